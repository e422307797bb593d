/**
 * The shared ensemble's members and what the proxy has recently learned about them. Each backend
 * connection tries members in a random order (spreading sessions), skipping members that failed
 * recently; a failed member waits out an exponential backoff before it is preferred again.
 */
import { formatHostPort, type HostPort } from '../config/config.ts';

export interface MemberState {
  readonly address: HostPort;
  readonly key: string;
  consecutiveFailures: number;
  /** Epoch ms before which the member is tried only when no healthy member is left. */
  avoidUntil: number;
  lastSuccess: number;
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export class EnsembleMembers {
  private readonly members: MemberState[];
  private readonly backoff: BackoffPolicy;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(addresses: readonly HostPort[], backoff: BackoffPolicy, clock: { now?: () => number; random?: () => number } = {}) {
    if (addresses.length === 0) throw new Error('an ensemble needs at least one member');
    this.members = addresses.map((address) => ({
      address,
      key: formatHostPort(address),
      consecutiveFailures: 0,
      avoidUntil: 0,
      lastSuccess: 0,
    }));
    this.backoff = backoff;
    this.now = clock.now ?? Date.now;
    this.random = clock.random ?? Math.random;
  }

  get all(): readonly MemberState[] {
    return this.members;
  }

  /** Every member once: healthy ones shuffled first, then those backing off, soonest-available first. */
  connectionOrder(): MemberState[] {
    const now = this.now();
    const healthy = this.members.filter((m) => m.avoidUntil <= now);
    const avoided = this.members.filter((m) => m.avoidUntil > now).sort((a, b) => a.avoidUntil - b.avoidUntil);
    for (let i = healthy.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [healthy[i], healthy[j]] = [healthy[j]!, healthy[i]!];
    }
    return [...healthy, ...avoided];
  }

  markFailure(member: MemberState): void {
    member.consecutiveFailures++;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (member.consecutiveFailures - 1));
    // Jitter so that replicas do not all come back to a member at the same instant.
    member.avoidUntil = this.now() + delay * (0.5 + this.random() / 2);
  }

  markSuccess(member: MemberState): void {
    member.consecutiveFailures = 0;
    member.avoidUntil = 0;
    member.lastSuccess = this.now();
  }

  /** A member answered a handshake within `withinMs`. */
  recentlyReachable(withinMs: number): boolean {
    const since = this.now() - withinMs;
    return this.members.some((m) => m.lastSuccess >= since);
  }
}
