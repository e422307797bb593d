/**
 * Which tenant a TLS client is, read from the client certificate the TLS layer has already
 * verified against the listener's CA. The rule is per listener (`tenantFrom`):
 *
 * - `cn`: the subject's common name equals a tenant name exactly. A subject with several CNs
 *   names nobody (which one would be meant is not for the proxy to guess).
 * - `san-dns`: a DNS subjectAltName equals a tenant name (compared in lower case, as DNS names
 *   are); other DNS names are ignored.
 * - `san-uri`: a URI subjectAltName `zookeeper-proxy://tenant/<name>` (exactly that form); other
 *   URIs (SPIFFE IDs, ...) are ignored.
 *
 * Under the SAN rules a certificate naming two different configured tenants names nobody. Anything
 * that does not name exactly one configured tenant is refused: the result is never a guess.
 */
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

export const TENANT_FROM = ['cn', 'san-dns', 'san-uri'] as const;
export type TenantFrom = (typeof TENANT_FROM)[number];

/** URI SAN form of the `san-uri` rule: `zookeeper-proxy://tenant/<name>`. */
const TENANT_URI_PREFIX = 'zookeeper-proxy://tenant/';

export type TlsIdentity =
  | { ok: true; tenant: string /** e.g. "cn:alpha", for logs */; identity: string }
  | { ok: false /** what the certificate offered under the rule, for logs */; claimed: string[]; reason: string };

/** The parts of a peer certificate the rules read (a subset of node:tls PeerCertificate). */
export type CertificateNames = Pick<PeerCertificate, 'subject' | 'subjectaltname'>;

export function tenantOfCertificate(
  cert: CertificateNames | undefined,
  from: TenantFrom,
  isTenant: (name: string) => boolean,
): TlsIdentity {
  if (cert === undefined || cert.subject === undefined) return { ok: false, claimed: [], reason: 'no client certificate' };
  if (from === 'cn') {
    const cn = cert.subject.CN as string | string[] | undefined;
    const names = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
    if (names.length !== 1)
      return { ok: false, claimed: names, reason: names.length === 0 ? 'the subject has no CN' : `the subject has ${names.length} CNs` };
    const name = names[0]!;
    return isTenant(name)
      ? { ok: true, tenant: name, identity: `cn:${name}` }
      : { ok: false, claimed: names, reason: 'the CN names no configured tenant' };
  }
  const type = from === 'san-dns' ? 'DNS' : 'URI';
  let values: string[];
  try {
    values = parseSubjectAltNames(cert.subjectaltname)
      .filter((entry) => entry.type === type)
      .map((entry) => entry.value);
  } catch (error) {
    return { ok: false, claimed: [], reason: (error as Error).message };
  }
  const candidates =
    from === 'san-dns'
      ? values.map((value) => value.toLowerCase())
      : values.filter((value) => value.startsWith(TENANT_URI_PREFIX)).map((value) => value.slice(TENANT_URI_PREFIX.length));
  const tenants = [...new Set(candidates.filter(isTenant))];
  if (tenants.length === 1) return { ok: true, tenant: tenants[0]!, identity: `${from}:${tenants[0]!}` };
  return {
    ok: false,
    claimed: values,
    reason:
      tenants.length === 0
        ? `no ${type} subjectAltName names a configured tenant`
        : `${type} subjectAltNames name ${tenants.length} tenants (${tenants.join(', ')})`,
  };
}

/**
 * Splits node's `subjectaltname` string ("DNS:a, URI:b, IP Address:1.2.3.4"). Node writes a value
 * with unusual characters (a comma, a quote, ...) as a JSON string literal, `URI:"a\u002c DNS:b"`,
 * so a crafted value can never pass for an entry of its own.
 */
export function parseSubjectAltNames(text: string | undefined): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  if (text === undefined || text === '') return entries;
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) throw new Error(`unparseable subjectAltName at ${at}: ${JSON.stringify(text.slice(at))}`);
    const type = text.slice(at, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) throw new Error(`unterminated quoted subjectAltName: ${JSON.stringify(text.slice(at))}`);
      value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      end += 1;
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    entries.push({ type, value });
    if (end < text.length && !text.startsWith(', ', end))
      throw new Error(`unparseable subjectAltName at ${end}: ${JSON.stringify(text.slice(end))}`);
    at = end + 2;
  }
  return entries;
}

/**
 * The client's x509 identity as ZooKeeper's X509AuthenticationProvider names it: the subject DN in
 * RFC 2253 form (Java's X500Principal.getName(): most specific RDN first, comma-separated). Node
 * prints the subject one RDN per line in certificate order, already escaped per RFC 2253.
 */
export function x509SubjectName(certificate: X509Certificate | undefined): string | undefined {
  const subject = certificate?.subject;
  if (subject === undefined || subject === '') return undefined;
  return subject.split('\n').reverse().join(',');
}
