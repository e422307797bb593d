/**
 * Is the ensemble there? A member that answers a four-letter word with anything at all (imok, or
 * "not in the whitelist") is alive and processing; a TCP accept alone is not (a stopped JVM's
 * kernel still accepts). Results are cached briefly so health checks cannot load the ensemble.
 */
import { connect } from 'node:net';
import type { EnsembleMembers, MemberState } from './members.ts';

export class EnsembleProbe {
  private readonly members: EnsembleMembers;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private cached: { at: number; result: Promise<boolean> } | undefined;

  constructor(members: EnsembleMembers, options: { timeoutMs?: number; cacheMs?: number } = {}) {
    this.members = members;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.cacheMs = options.cacheMs ?? 1000;
  }

  reachable(): Promise<boolean> {
    if (this.members.recentlyReachable(this.cacheMs)) return Promise.resolve(true);
    const now = Date.now();
    if (this.cached === undefined || now - this.cached.at > this.cacheMs) {
      this.cached = { at: now, result: this.probeAny() };
    }
    return this.cached.result;
  }

  private async probeAny(): Promise<boolean> {
    for (const member of this.members.connectionOrder()) {
      if (await this.probe(member)) return true;
    }
    return false;
  }

  private probe(member: MemberState): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: member.address.host, port: member.address.port });
      const done = (alive: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(alive);
      };
      const timer = setTimeout(() => done(false), this.timeoutMs);
      socket.once('connect', () => socket.write('ruok'));
      socket.once('data', () => done(true));
      socket.once('error', () => done(false));
      socket.once('close', () => done(false));
    });
  }
}
