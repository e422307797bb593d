/**
 * The ZooKeeper the golden clients talk to: the project's LocalEnsemble fixture (real Debian
 * ZooKeeper 3.8 JVMs), configured so that every feature a client can exercise is switched on.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalEnsemble } from '../../../src/embedded/ensemble.ts';

export interface Credentials {
  user: string;
  password: string;
}

export interface GoldenServer {
  /** The member the relay forwards to. */
  readonly clientPort: number;
  /** Straight to the servers, bypassing the relay: for changes clients must not see happen. */
  readonly directConnectString: string;
  readonly superDigest: Credentials;
  /** The DIGEST-MD5 SASL identity the server accepts. */
  readonly sasl: Credentials;
  /** Release number reported by `srvr`, e.g. "3.8.0". */
  readonly version: string;
  readonly description: string;
  close(): Promise<void>;
}

const SUPER: Credentials = { user: 'super', password: 'golden-super-secret' };
const SASL: Credentials = { user: 'golden-sasl', password: 'golden-sasl-secret' };

/**
 * Three members rather than one: with a real quorum, /zookeeper/config holds real membership,
 * reconfig is answered by a real leader instead of being refused, and the member behind the
 * relay is usually a follower, so writes and sync take the forwarding path.
 *
 * tickTime 2000 makes the minimum session timeout 4 s: short enough for pings to show up in a
 * few idle seconds, long enough that a session survives a forced reconnect on a busy 2-core box.
 */
export async function startGoldenServer(workDir: string): Promise<GoldenServer> {
  const jaasFile = join(workDir, 'server-jaas.conf');
  writeFileSync(
    jaasFile,
    // DigestLoginModule: user_<name>="<password>" entries are the accepted DIGEST-MD5 identities.
    `Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_${SASL.user}="${SASL.password}";\n};\n`,
  );

  const ensemble = await LocalEnsemble.start({
    size: 3,
    tickTime: 2000,
    enforceQuota: true,
    extendedTypes: true,
    reconfigEnabled: true,
    superDigest: SUPER,
    systemProperties: {
      'java.security.auth.login.config': jaasFile,
      // Registers the "sasl" auth scheme, so SASL sessions get a sasl:<user> identity.
      'zookeeper.authProvider.sasl': 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider',
    },
  });
  try {
    const member = ensemble.members[0]!;
    const srvr = await ensemble.fourLetterWord(member.id, 'srvr');
    // Debian's build leaves "3.8.0-${mvngit.commit.id}, built on ..." here; keep the release.
    const version = /Zookeeper version: (\d+\.\d+\.\d+)/.exec(srvr)?.[1] ?? 'unknown';
    return {
      clientPort: member.clientPort,
      directConnectString: ensemble.connectString(),
      superDigest: SUPER,
      sasl: SASL,
      version,
      description: `a 3-member ZooKeeper ${version} ensemble, relays forwarding to member ${member.id}`,
      close: () => ensemble.close(),
    };
  } catch (error) {
    await ensemble.close();
    throw error;
  }
}
