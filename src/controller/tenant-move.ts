/**
 * `tenant move <name> --to <ensemble>`: the orchestration of a move (docs/ensembles.md "Move:
 * cut-over"), a state machine persisted at `<controller.root>/moves/<tenant>` on home:
 *
 *   prepare → copy → sync → hold → final → switch → cleanup → (record removed)
 *
 * Invariant: the tenant is whole on exactly one ensemble, the one its registry entry names. The
 * registry is written twice: `hold: true`, then ONE write naming the target with the hold
 * cleared (the point of no return). The source tree is deleted only after that write; before it,
 * every failure or `--abort` clears the hold and leaves the tenant on the source.
 */
import type { JuteClient } from 'jute-ts/client';
import { defaultChroot } from '../config/config.ts';
import { applyQuota } from '../ensemble-admin/quota.ts';
import { copyTree } from '../migration/copy-tree.ts';
import { syncPass } from '../migration/sync-pass.ts';
import type { TreeLedger } from '../migration/tree-ledger.ts';
import { verify } from '../migration/verify.ts';
import type { EnsembleSessions } from './ensemble-sessions.ts';
import { ConflictError, NotFoundError, ValidationError } from './errors.ts';
import type { Reconciler } from './reconcile.ts';
import type { RegistryWriter } from './registry-writer.ts';
import type { ControllerSettings } from './settings.ts';
import type { DesiredStateStore } from './store.ts';
import { childrenOf, createNode, deleteNode, deleteTree, readNode, setNode } from './zookeeper.ts';

export type MovePhase = 'prepare' | 'copy' | 'sync' | 'hold' | 'final' | 'switch' | 'cleanup' | 'done' | 'aborted';

export interface MoveRecord {
  tenant: string;
  from: string;
  to: string;
  phase: MovePhase;
  startedAt: string;
  updatedAt: string;
  /** When each phase was entered (the last time, after a resume). */
  phases: Partial<Record<MovePhase, string>>;
  nodesCopied: number;
  /** Sync passes run before the hold, and the nodes the last one changed. */
  passes: number;
  lastPassChanged: number | null;
  /** Hold written → switch written, and its parts: replicas holding, the final pass, verify. */
  pauseMs: number | null;
  holdWaitMs: number | null;
  finalPassMs: number | null;
  verifyMs: number | null;
  /** Times the move was resumed after its mover died. */
  resumes: number;
  /** Why the last attempt rolled back or failed. */
  error: string | null;
}

/** Sync passes before the hold, at most; a pass changing fewer than this share of the tree ends them. */
const MAX_SYNC_PASSES = 5;
const SETTLED_SHARE = 0.01;
const REPLICA_POLL_MS = 20;

export class MoveRolledBack extends ConflictError {}

export class TenantMover {
  private readonly store: DesiredStateStore;
  private readonly registry: RegistryWriter;
  private readonly ensembles: EnsembleSessions;
  private readonly settings: ControllerSettings;
  private readonly reconciler: Reconciler;

  constructor(options: {
    store: DesiredStateStore;
    registry: RegistryWriter;
    ensembles: EnsembleSessions;
    settings: ControllerSettings;
    reconciler: Reconciler;
  }) {
    this.store = options.store;
    this.registry = options.registry;
    this.ensembles = options.ensembles;
    this.settings = options.settings;
    this.reconciler = options.reconciler;
  }

  private path(tenant: string): string {
    return `${this.store.movesPath}/${tenant}`;
  }

  async record(tenant: string): Promise<{ value: MoveRecord; version: number } | null> {
    const node = await readNode(this.store.client, this.path(tenant));
    return node === null ? null : { value: JSON.parse(node.data.toString('utf8')) as MoveRecord, version: node.version };
  }

  /** Validates and writes the move record (phase prepare); the move itself is `run`. */
  async begin(tenant: string, rawTo: unknown): Promise<MoveRecord> {
    if (this.settings.ensembles === undefined) throw new ValidationError(['a move needs the several-ensembles form (ensembles:)']);
    if (typeof rawTo !== 'string') throw new ValidationError([`to must be the name of one of: ${this.ensembles.names.join(', ')}`]);
    const to = this.ensembles.ensemble(rawTo).name;
    const { value } = await this.store.requireTenant(tenant);
    if (value.deleting) throw new ConflictError(`tenant "${tenant}" is being deleted`);
    const from = this.ensembles.of(value);
    if (from === to) throw new ConflictError(`tenant "${tenant}" is already on ensemble "${to}"`);
    const now = new Date().toISOString();
    const record: MoveRecord = {
      tenant,
      from,
      to,
      phase: 'prepare',
      startedAt: now,
      updatedAt: now,
      phases: { prepare: now },
      nodesCopied: 0,
      passes: 0,
      lastPassChanged: null,
      pauseMs: null,
      holdWaitMs: null,
      finalPassMs: null,
      verifyMs: null,
      resumes: 0,
      error: null,
    };
    await createNode(this.store.client, this.store.movesPath, Buffer.alloc(0), this.store.acl).catch(() => false);
    if (!(await createNode(this.store.client, this.path(tenant), json(record), this.store.acl)))
      throw new ConflictError(`a move of tenant "${tenant}" is already under way: continue it with --resume or roll it back with --abort`);
    return record;
  }

  /** Starts a move and runs it to its end: the final record (phase done). */
  async move(tenant: string, to: unknown): Promise<MoveRecord> {
    await this.begin(tenant, to);
    return this.run(tenant);
  }

  /** Continues a move whose mover died, from what the record and the registry show. */
  async resume(tenant: string): Promise<MoveRecord> {
    const found = await this.requireRecord(tenant);
    await this.write(tenant, { ...found.value, resumes: found.value.resumes + 1 });
    return this.run(tenant);
  }

  /** Rolls a move back before its switch: hold cleared, the target's copy deleted, the record removed. */
  async abort(tenant: string): Promise<MoveRecord> {
    const { value } = await this.requireRecord(tenant);
    if (await this.switched(value))
      throw new ConflictError(
        `the move of tenant "${tenant}" is past its switch (the registry names "${value.to}"): finish it with --resume`,
      );
    await this.rollBack(value, 'aborted by request');
    return { ...value, phase: 'aborted', updatedAt: new Date().toISOString(), error: 'aborted by request' };
  }

  private async requireRecord(tenant: string): Promise<{ value: MoveRecord; version: number }> {
    const found = await this.record(tenant);
    if (found === null) throw new NotFoundError(`no move of tenant "${tenant}" is under way`);
    return found;
  }

  private async switched(record: MoveRecord): Promise<boolean> {
    return (await this.registry.entry(record.tenant))?.ensemble === record.to;
  }

  /** Runs from the recorded phase; everything before the switch starts again at prepare (copyTree is idempotent). */
  async run(tenant: string): Promise<MoveRecord> {
    let record = (await this.requireRecord(tenant)).value;
    const root = defaultChroot(tenant);
    if (!(await this.switched(record))) {
      const [source, target] = await Promise.all([this.ensembles.session(record.from), this.ensembles.session(record.to)]);
      // A hold left by a dead mover: lifted before copying again (the proxies closed its connections already).
      await this.registry.setHold(tenant, false);
      record = await this.enter(record, 'prepare');
      const { value: tenantRecord } = await this.store.requireTenant(tenant);
      await this.reconciler.ensureRoot({ ...tenantRecord, ensemble: record.to });
      record = await this.enter(record, 'copy');
      const copied = await copyTree(source, target, root);
      record = await this.enter(record, 'sync', { nodesCopied: copied.counts.created + copied.counts.dataSet });
      record = await this.syncUntilSettled(record, source, target, copied.ledger);
      record = await this.cutOver(record, source, target, copied.ledger, root);
    }
    record = await this.enter(record, 'cleanup');
    await this.store.updateTenant(tenant, (current) => ({ ...current, ensemble: record.to }));
    const source = await this.ensembles.session(record.from);
    await applyQuota(source, root, { maxZnodes: 0, maxBytes: 0 });
    await deleteTree(source, root);
    const done = { ...record, phase: 'done' as const, updatedAt: new Date().toISOString() };
    done.phases.done = done.updatedAt;
    await deleteNode(this.store.client, this.path(tenant));
    await this.reconciler.converge(tenant);
    return done;
  }

  private async syncUntilSettled(record: MoveRecord, source: JuteClient, target: JuteClient, ledger: TreeLedger): Promise<MoveRecord> {
    let current = record;
    for (let pass = 0; pass < MAX_SYNC_PASSES; pass++) {
      const result = await syncPass(source, target, ledger);
      current = await this.enter(current, 'sync', { passes: current.passes + 1, lastPassChanged: result.changed });
      if (result.changed <= Math.max(10, result.nodes * SETTLED_SHARE)) break;
    }
    return current;
  }

  /** hold → final → switch; before the switch every failure rolls back and rejects with MoveRolledBack. */
  private async cutOver(record: MoveRecord, source: JuteClient, target: JuteClient, ledger: TreeLedger, root: string): Promise<MoveRecord> {
    let current = await this.enter(record, 'hold');
    const holdWritten = performance.now();
    await this.registry.setHold(record.tenant, true);
    try {
      await this.waitForReplicas(record.tenant, await this.registry.version());
      const holding = performance.now();
      current = await this.enter(current, 'final', { holdWaitMs: Math.round(holding - holdWritten) });
      await syncPass(source, target, ledger);
      const synced = performance.now();
      const differences = this.settings.controller.moveVerify ? await verify(source, target, root) : [];
      if (differences.length > 0)
        throw new Error(`${differences.length} differences after the final pass, e.g. ${JSON.stringify(differences[0])}`);
      current = {
        ...current,
        finalPassMs: Math.round(synced - holding),
        verifyMs: this.settings.controller.moveVerify ? Math.round(performance.now() - synced) : null,
      };
    } catch (error) {
      await this.rollBack(current, (error as Error).message);
      throw new MoveRolledBack(`move of tenant "${record.tenant}" rolled back: ${(error as Error).message}`);
    }
    await this.registry.retarget(record.tenant, record.to);
    return this.enter(current, 'switch', { pauseMs: Math.round(performance.now() - holdWritten) });
  }

  /** Until every replica record shows at least `version` and the tenant quiesced; rejects after moveHoldWaitMs. */
  private async waitForReplicas(tenant: string, version: number): Promise<void> {
    const path = this.settings.registry.replicasPath;
    const deadline = performance.now() + this.settings.controller.moveHoldWaitMs;
    for (;;) {
      const lagging: string[] = [];
      for (const child of (await childrenOf(this.store.client, path)) ?? []) {
        const node = await readNode(this.store.client, `${path}/${child}`);
        if (node === null) continue; // its session ended: it serves nobody
        const shown = replicaRecord(node.data);
        if (shown === null || shown.registryVersion < version || !shown.quiesced.includes(tenant)) lagging.push(child);
      }
      if (lagging.length === 0) return;
      if (performance.now() > deadline)
        throw new Error(`replicas did not hold the tenant within ${this.settings.controller.moveHoldWaitMs} ms: ${lagging.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, REPLICA_POLL_MS));
    }
  }

  /** Before the switch only: hold cleared, the target's copy and quota deleted, the record removed. */
  private async rollBack(record: MoveRecord, reason: string): Promise<void> {
    await this.registry.setHold(record.tenant, false);
    const target = await this.ensembles.session(record.to);
    const root = defaultChroot(record.tenant);
    await applyQuota(target, root, { maxZnodes: 0, maxBytes: 0 });
    await deleteTree(target, root);
    await this.write(record.tenant, { ...record, phase: 'aborted', error: reason });
    await deleteNode(this.store.client, this.path(record.tenant));
  }

  private enter(record: MoveRecord, phase: MovePhase, figures: Partial<MoveRecord> = {}): Promise<MoveRecord> {
    const now = new Date().toISOString();
    return this.write(record.tenant, { ...record, ...figures, phase, updatedAt: now, phases: { ...record.phases, [phase]: now } });
  }

  private async write(tenant: string, record: MoveRecord): Promise<MoveRecord> {
    if (!(await setNode(this.store.client, this.path(tenant), json(record), -1)))
      throw new ConflictError(`the move record of tenant "${tenant}" is gone: the move was aborted meanwhile`);
    return record;
  }
}

function replicaRecord(data: Buffer): { registryVersion: number; quiesced: string[] } | null {
  try {
    const parsed = JSON.parse(data.toString('utf8')) as { registryVersion?: unknown; quiesced?: unknown };
    if (typeof parsed.registryVersion !== 'number' || !Array.isArray(parsed.quiesced)) return null;
    return { registryVersion: parsed.registryVersion, quiesced: parsed.quiesced as string[] };
  } catch {
    return null;
  }
}

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 1)}\n`);
