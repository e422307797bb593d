/**
 * The proxy's own ZooKeeper sessions (never a tenant's): creating tenant roots and quotas, reading
 * the tenant registry. Authenticated as the platform admin when one is configured, because those
 * znodes are the admin's and invisible to tenant identities.
 */
import { OpCode } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import type { DigestIdentity } from '../tenancy/credentials.ts';
import type { EnsembleMembers } from '../backend/members.ts';

export interface PlatformSessionOptions {
  connectTimeoutMs: number;
  sessionTimeoutMs: number;
  admin: DigestIdentity | undefined;
  /** For the error message: what the session was for. */
  purpose: string;
}

/** Tries every member (healthy ones first) and returns the first session that opens. */
export async function openPlatformSession(members: EnsembleMembers, options: PlatformSessionOptions): Promise<JuteClient> {
  const failures: string[] = [];
  for (const member of members.connectionOrder()) {
    let client: JuteClient | undefined;
    try {
      client = await JuteClient.connect({
        host: member.address.host,
        port: member.address.port,
        connectTimeoutMs: options.connectTimeoutMs,
        sessionTimeoutMs: options.sessionTimeoutMs,
      });
      if (options.admin)
        await client.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(`${options.admin.user}:${options.admin.password}`) });
      return client;
    } catch (error) {
      client?.destroy();
      failures.push(`${member.key}: ${(error as Error).message}`);
    }
  }
  throw new Error(`cannot reach the ensemble ${options.purpose} (${failures.join('; ')})`);
}
