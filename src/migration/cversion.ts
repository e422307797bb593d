/**
 * Sequence counters continue on the target. ZooKeeper names a sequential child after its parent's
 * cversion, which every child create and every child delete increments; a copied parent starts
 * with the cversion of the creates that copied its children only. Raising each target parent to
 * at least its source cversion makes the next sequential child on the target get a number above
 * any the source handed out. The only way to raise a cversion is to change the children, so each
 * raise is create + delete of a scratch child, many pairs per multi: atomic, so no scratch node
 * is ever visible or left behind, and within jute.maxbuffer.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, OpCode, type RecordValue } from 'jute-ts';
import { type JuteClient, KeeperError } from 'jute-ts/client';
import type { CopyCounts } from './subtree-copier.ts';
import { mapPipelined } from './task-pool.ts';
import type { TreeLedger } from './tree-ledger.ts';
import { childPath, SCRATCH_ACL, statOf } from './znode.ts';

/** Well below jute.maxbuffer (1 MiB less 1 byte by default), for the request and its txn alike. */
const MULTI_BYTES_BUDGET = 512 * 1024;
const MULTI_OPS_LIMIT = 2000;
const CONCURRENCY = 256;

interface Deficit {
  path: string;
  /** How far the target's cversion is below the source's. */
  missing: number;
}

/**
 * Raises the target cversion of every path in `paths` that is below its recorded source cversion.
 * Reads the target's Stats (pipelined), then sends the multis; measures again, since one pair
 * adds 2 only where deletes count too, and repeats until none is below.
 */
export async function raiseCversions(target: JuteClient, ledger: TreeLedger, paths: Iterable<string>, counts: CopyCounts): Promise<void> {
  let pending = [...paths];
  const raised = new Set<string>();
  for (let round = 0; pending.length > 0; round++) {
    if (round >= 32) throw new Error(`cversion of ${pending[0]} does not rise on the target`);
    const deficits = await measureDeficits(target, ledger, pending);
    if (deficits.length === 0) break;
    for (const deficit of deficits) raised.add(deficit.path);
    await sendRaises(target, deficits, counts);
    pending = deficits.map((deficit) => deficit.path);
  }
  counts.cversionRaised += raised.size;
}

async function measureDeficits(target: JuteClient, ledger: TreeLedger, paths: readonly string[]): Promise<Deficit[]> {
  const stats = await mapPipelined(paths, CONCURRENCY, (path) => statOf(target, path));
  const deficits: Deficit[] = [];
  paths.forEach((path, index) => {
    const wanted = ledger.nodes.get(path)?.cversion;
    const stat = stats[index];
    if (wanted !== undefined && stat !== undefined && stat.cversion < wanted) deficits.push({ path, missing: wanted - stat.cversion });
  });
  return deficits;
}

type SubOp = [opcode: number, body: RecordValue];

/** A child name no tenant node has: it is only ever created inside the multi that deletes it. */
function scratchName(): string {
  return `zkproxy-move-cversion-${randomBytes(8).toString('hex')}`;
}

async function sendRaises(target: JuteClient, deficits: readonly Deficit[], counts: CopyCounts): Promise<void> {
  const batches: SubOp[][] = [];
  let batch: SubOp[] = [];
  let bytes = 0;
  for (const { path, missing } of deficits) {
    const scratch = childPath(path, scratchName());
    // create ~ path + 60 bytes (data, one ACL, flags, header), delete ~ path + 15.
    const pairBytes = 2 * Buffer.byteLength(scratch) + 75;
    for (let pairs = Math.ceil(missing / 2); pairs > 0; pairs--) {
      if (batch.length + 2 > MULTI_OPS_LIMIT || bytes + pairBytes > MULTI_BYTES_BUDGET) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(
        [OpCode.create, { path: scratch, data: null, acl: SCRATCH_ACL, flags: 0 }],
        [OpCode.delete, { path: scratch, version: -1 }],
      );
      bytes += pairBytes;
    }
  }
  if (batch.length > 0) batches.push(batch);
  await mapPipelined(batches, 8, async (ops) => {
    counts.cversionMultis++;
    const reply = await target.request(OpCode.multi, multiBody(ops));
    // A clash with an existing name fails the whole multi and changes nothing; the next round
    // measures again and picks new names. Anything else (QUOTAEXCEEDED under a full hard quota,
    // NOAUTH without the admin identity) stops the move.
    const failure = multiFailure(reply);
    if (failure !== ErrorCode.OK && failure !== ErrorCode.NODEEXISTS) throw new KeeperError(failure, 'multi', ops[0]![1]);
  });
}

/** The error a multi failed with (its header's, or the first real one among its results), or OK. */
function multiFailure(reply: { err: number; body?: RecordValue }): number {
  if (reply.err !== ErrorCode.OK) return reply.err;
  const results = (reply.body?.results as { entries: { header: { type: number }; body?: RecordValue }[] } | undefined)?.entries ?? [];
  for (const { header, body } of results) {
    const err = header.type === -1 ? (body?.err as number | undefined) : undefined;
    // The ops after the failing one report RUNTIMEINCONSISTENCY: rolled back, not failed themselves.
    if (err !== undefined && err !== ErrorCode.OK && err !== ErrorCode.RUNTIMEINCONSISTENCY) return err;
  }
  return ErrorCode.OK;
}

function multiBody(ops: readonly SubOp[]): RecordValue {
  return {
    ops: {
      entries: [
        ...ops.map(([type, body]) => ({ header: { type, done: false, err: -1 }, body })),
        { header: { type: -1, done: true, err: -1 }, body: undefined },
      ],
    },
  };
}
