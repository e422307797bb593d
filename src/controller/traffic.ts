/**
 * A tenant's live traffic for the console: its request, reply-error and refusal counters summed
 * over the proxies' admin listeners (`controller.http.proxyAdmin`, every replica's `/metrics`).
 * Counters only: the page turns two readings into rates, so the controller keeps no state.
 */
import { formatHostPort, type HostPort } from '../config/config.ts';

const SCRAPE_TIMEOUT_MS = 2000;
const COUNTERS = { requests: 'zkproxy_requests_total', errors: 'zkproxy_reply_errors_total', refused: 'zkproxy_refused_total' } as const;

export interface TenantTraffic {
  tenant: string;
  /** Milliseconds since the epoch when the counters were read. */
  at: number;
  requests: number;
  errors: number;
  refused: number;
  /** Each proxy admin listener asked, and why it did not answer (its counters are then missing). */
  sources: { address: string; ok: boolean; error?: string }[];
}

/** The sum of a counter's samples that carry `tenant="<tenant>"` in Prometheus text. */
function sumForTenant(text: string, metric: string, tenant: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const match = /^[^{]+\{(.*)\} (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = new Map([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (labels.get('tenant') === tenant) sum += Number(match[2]);
  }
  return sum;
}

export async function tenantTraffic(tenant: string, proxies: readonly HostPort[]): Promise<TenantTraffic> {
  const traffic: TenantTraffic = { tenant, at: Date.now(), requests: 0, errors: 0, refused: 0, sources: [] };
  await Promise.all(
    proxies.map(async (proxy) => {
      const address = formatHostPort(proxy);
      try {
        const response = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const text = await response.text();
        for (const [key, metric] of Object.entries(COUNTERS)) traffic[key as keyof typeof COUNTERS] += sumForTenant(text, metric, tenant);
        traffic.sources.push({ address, ok: true });
      } catch (error) {
        traffic.sources.push({ address, ok: false, error: (error as Error).message });
      }
    }),
  );
  return traffic;
}
