/**
 * Where a new tenant goes: the ensemble with the most headroom. Each ensemble is measured from
 * its members' `mntr` four-letter word, and its usage is normalised against the capacity it is
 * configured with (`ensembles.<name>.capacity`):
 *
 *   usage    = max(znodes / capacity.znodes, bytes / capacity.bytes, connections / capacity.connections)
 *   headroom = 1 - usage
 *
 * znodes (zk_znode_count) and bytes (zk_approximate_data_size) are replicated state, the same on
 * every member, so the largest figure any member reports counts; connections
 * (zk_num_alive_connections) are per member, so they are summed. The scarcest of the three
 * decides: an ensemble with few znodes but many connections is as full as its connections.
 * An ensemble none of whose members serves is unreachable and never chosen; neither is one with
 * no headroom left.
 */
import { formatHostPort } from '../config/config.ts';
import { sendFourLetterWord } from '../embedded/four-letter-word.ts';
import { ConflictError, UnavailableError } from './errors.ts';
import type { ControllerEnsemble, EnsembleCapacity } from './settings.ts';

const MNTR_TIMEOUT_MS = 2000;
/** zk_server_state values of a member that serves clients with a quorum (or alone). */
const SERVING_STATES = ['leader', 'follower', 'observer', 'standalone'];

export interface MemberFigures {
  address: string;
  reachable: boolean;
  /** zk_server_state, null when the member did not answer. */
  state: string | null;
  znodes: number | null;
  bytes: number | null;
  connections: number | null;
  error: string | null;
}

export interface EnsembleMeasure {
  ensemble: string;
  members: MemberFigures[];
  reachable: boolean;
  znodes: number | null;
  bytes: number | null;
  connections: number | null;
  capacity: EnsembleCapacity;
  /** Each figure over its capacity (0..1, more when over capacity); null when unreachable. */
  usage: { znodes: number; bytes: number; connections: number } | null;
  /** 1 - the largest usage; null when unreachable. */
  headroom: number | null;
}

/** One member's mntr figures, or why there are none. */
async function measureMember(address: ControllerEnsemble['members'][number]): Promise<MemberFigures> {
  const shown = formatHostPort(address);
  const none = (error: string): MemberFigures => ({
    address: shown,
    reachable: false,
    state: null,
    znodes: null,
    bytes: null,
    connections: null,
    error,
  });
  let reply: string;
  try {
    reply = await sendFourLetterWord(address.host, address.port, 'mntr', MNTR_TIMEOUT_MS);
  } catch (error) {
    return none((error as Error).message);
  }
  const figures = new Map<string, string>();
  for (const line of reply.split('\n')) {
    const match = /^(zk_\w+)\s+(.*)$/.exec(line.trim());
    if (match) figures.set(match[1]!, match[2]!);
  }
  const state = figures.get('zk_server_state');
  // A refusal ("mntr is not executed because it is not in the whitelist.") or "not currently serving".
  if (state === undefined) return none(reply.trim() || 'empty mntr reply');
  const number = (key: string) => {
    const value = Number(figures.get(key));
    return Number.isFinite(value) ? value : null;
  };
  const znodes = number('zk_znode_count');
  const bytes = number('zk_approximate_data_size');
  const connections = number('zk_num_alive_connections');
  const serving = SERVING_STATES.includes(state);
  const complete = znodes !== null && bytes !== null && connections !== null;
  return {
    address: shown,
    reachable: serving && complete,
    state,
    znodes,
    bytes,
    connections,
    error: !serving
      ? `not serving (state ${state})`
      : complete
        ? null
        : 'mntr lacks zk_znode_count, zk_approximate_data_size or zk_num_alive_connections',
  };
}

const rounded = (value: number) => Math.round(value * 1e6) / 1e6;

/** Asks every member of `ensemble` for mntr (in parallel) and scores the ensemble. */
export async function measureEnsemble(ensemble: ControllerEnsemble): Promise<EnsembleMeasure> {
  const members = await Promise.all(ensemble.members.map(measureMember));
  const serving = members.filter((member) => member.reachable);
  const { capacity } = ensemble;
  if (serving.length === 0)
    return {
      ensemble: ensemble.name,
      members,
      reachable: false,
      znodes: null,
      bytes: null,
      connections: null,
      capacity,
      usage: null,
      headroom: null,
    };
  const znodes = Math.max(...serving.map((member) => member.znodes!));
  const bytes = Math.max(...serving.map((member) => member.bytes!));
  const connections = serving.reduce((sum, member) => sum + member.connections!, 0);
  const usage = {
    znodes: rounded(znodes / capacity.znodes),
    bytes: rounded(bytes / capacity.bytes),
    connections: rounded(connections / capacity.connections),
  };
  const headroom = rounded(1 - Math.max(usage.znodes, usage.bytes, usage.connections));
  return { ensemble: ensemble.name, members, reachable: true, znodes, bytes, connections, capacity, usage, headroom };
}

/**
 * The ensemble with the most headroom (ties: the one configured first). UnavailableError when no
 * ensemble is reachable, ConflictError when every reachable one is at or over capacity.
 */
export function chooseEnsemble(measures: readonly EnsembleMeasure[]): string {
  let best: EnsembleMeasure | undefined;
  for (const measure of measures) {
    if (!measure.reachable || measure.headroom! <= 0) continue;
    if (best === undefined || measure.headroom! > best.headroom!) best = measure;
  }
  if (best !== undefined) return best.ensemble;
  const why = measures
    .map((m) =>
      m.reachable
        ? `${m.ensemble}: no headroom (usage ${JSON.stringify(m.usage)})`
        : `${m.ensemble}: unreachable (${m.members.map((member) => `${member.address}: ${member.error}`).join('; ')})`,
    )
    .join('; ');
  if (measures.some((m) => m.reachable)) throw new ConflictError(`no ensemble has room for a new tenant: ${why}`);
  throw new UnavailableError(`no ensemble is reachable to place the tenant on: ${why}`);
}
