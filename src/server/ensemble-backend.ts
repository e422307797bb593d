/**
 * One configured ensemble as this proxy process uses it (docs/ensembles.md): its members and
 * what the proxy learned about them, its reachability probe, the keeper of the tenant roots on it
 * (with the ensemble's own admin identity; whether it has hard quotas is asked of it), and the
 * session environment every session of a tenant on it gets, so that a session never looks its
 * ensemble up.
 */
import { EnsembleMembers } from '../backend/members.ts';
import { EnsembleProbe } from '../backend/probe.ts';
import { ensembleAdmin, type NamedEnsemble, type ProxyConfig } from '../config/config.ts';
import { TenantRootKeeper } from '../ensemble-admin/root-keeper.ts';
import type { Logger } from '../observability/logger.ts';
import type { ProxyMetrics } from '../observability/metrics.ts';
import type { RateLimitedLog } from '../observability/rate-limited-log.ts';
import type { SessionEnvironment } from '../session/client-session.ts';
import { digestIdentity, type DigestIdentity } from '../tenancy/credentials.ts';
import { answerFourLetterWord } from './four-letter-words.ts';

export class EnsembleBackend {
  readonly name: string;
  readonly members: EnsembleMembers;
  readonly probe: EnsembleProbe;
  readonly admin: DigestIdentity | undefined;
  readonly roots: TenantRootKeeper;
  readonly env: SessionEnvironment;

  /** `home`: the first configured ensemble, whose sessions keep the tenants' original seal. */
  constructor(ensemble: NamedEnsemble, home: boolean, config: ProxyConfig, log: Logger, metrics: ProxyMetrics, refusalLog: RateLimitedLog) {
    const name = (this.name = ensemble.name);
    const members = (this.members = new EnsembleMembers(ensemble.members, {
      initialMs: config.backend.failureBackoffInitialMs,
      maxMs: config.backend.failureBackoffMaxMs,
    }));
    this.probe = new EnsembleProbe(members);
    const admin = ensembleAdmin(config, name);
    this.admin = admin === undefined ? undefined : digestIdentity(admin.user, admin.password);
    const roots = (this.roots = new TenantRootKeeper(members, log.child({ ensemble: name }), config.backend.connectTimeoutMs, this.admin));
    this.env = {
      ensemble: name,
      sealScope: home ? undefined : name,
      members,
      connectTimeoutMs: config.backend.connectTimeoutMs,
      handshakeTimeoutMs: config.client.handshakeTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
      log,
      ensureTenantRoot: (tenant) => roots.ensure(tenant),
      fourLetterWord: (word, socket) => answerFourLetterWord(word, socket, () => this.probe.reachable()),
      onBackendAttemptFailed: (member, reason) => {
        metrics.backendFailures.labels(name, member).inc();
        log.warn({ ensemble: name, member, reason }, 'ensemble member refused or failed a session');
      },
      onBackendSilent: (member, silentMs) => {
        members.markFailure(member);
        metrics.backendSilent.labels(name, member.key).inc();
        refusalLog.warn(
          `silent/${name}/${member.key}`,
          { ensemble: name, member: member.key, silentMs: Math.round(silentMs) },
          'a client gave up on an ensemble member that stopped answering; trying others first',
        );
      },
      onBackendOpened: (member) => metrics.backendConnections.labels(name, member).inc(),
      onBackendClosed: (member) => metrics.backendConnections.labels(name, member).dec(),
      allowSasl: config.security.allowSasl,
      ensembleMaxFrameBytes: config.ensembleMaxFrameBytes,
      refusalLog,
    };
  }

  /** For /admin/state. */
  describeMembers(): { member: string; consecutiveFailures: number; avoidUntil: number | null }[] {
    return this.members.all.map((m) => ({ member: m.key, consecutiveFailures: m.consecutiveFailures, avoidUntil: m.avoidUntil || null }));
  }
}

/**
 * Readiness over several ensembles: ready when every ensemble in `needed` answers; the reason
 * names those that do not.
 */
export async function ensemblesReady(
  needed: readonly { name: string; probe: EnsembleProbe }[],
): Promise<{ ready: boolean; reason?: string }> {
  const reachable = await Promise.all(needed.map((e) => e.probe.reachable()));
  const down = needed.filter((_, i) => !reachable[i]).map((e) => e.name);
  if (down.length === 0) return { ready: true };
  return { ready: false, reason: `ensemble unreachable: ${down.join(', ')}` };
}
