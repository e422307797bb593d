/**
 * Follows the tenant registry znode (src/config/registry.ts): reads it, leaves a watch, and reads
 * it again on every change, so every replica converges on what the controller wrote. The session
 * is the proxy's own; when it is lost, a new one re-reads the znode (anything missed meanwhile is
 * in the data read then, so no SetWatches replay is needed).
 */
import { ErrorCode, OpCode } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import type { EnsembleMembers } from '../backend/members.ts';
import { openPlatformSession } from './platform-session.ts';
import { ReconnectBackoff } from './reconnect-backoff.ts';
import type { Logger } from '../observability/logger.ts';
import type { DigestIdentity } from '../tenancy/credentials.ts';

export interface RegistrySnapshot {
  /** null: the znode does not exist (no registry tenants). */
  data: Buffer | null;
  /** The znode's data version, -1 when absent. */
  version: number;
}

export interface RegistryWatchOptions {
  members: EnsembleMembers;
  path: string;
  admin: DigestIdentity | undefined;
  connectTimeoutMs: number;
  log: Logger;
  /** Called with every distinct snapshot, in order. */
  onSnapshot: (snapshot: RegistrySnapshot) => void;
}

export class RegistryWatch {
  private readonly options: RegistryWatchOptions;
  private client: JuteClient | undefined;
  private closed = false;
  private readonly retry = new ReconnectBackoff(() => void this.connect());
  private lastDelivered: string | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private firstSnapshot: { promise: Promise<void>; resolve: () => void };

  constructor(options: RegistryWatchOptions) {
    this.options = options;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstSnapshot = { promise, resolve };
  }

  /** Starts following; resolves once the first snapshot was delivered (or after `waitMs`). */
  async start(waitMs: number): Promise<boolean> {
    void this.connect();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)));
    try {
      return await Promise.race([this.firstSnapshot.promise.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.retry.cancel();
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { members, admin, connectTimeoutMs, log, path } = this.options;
    try {
      const client = await openPlatformSession(members, {
        connectTimeoutMs,
        sessionTimeoutMs: 30_000,
        admin,
        purpose: `to read the tenant registry ${path}`,
      });
      if (this.closed) {
        await client.close();
        return;
      }
      this.client = client;
      this.retry.succeeded();
      client.on('notification', (event) => {
        if (event.path === path) this.read(client);
      });
      client.once('close', (reason) => {
        if (this.client !== client || this.closed) return;
        this.client = undefined;
        log.warn({ registry: path, reason }, 'registry session lost; reconnecting');
        this.scheduleConnect();
      });
      this.read(client);
    } catch (error) {
      log.warn({ registry: path, err: (error as Error).message, retryMs: this.retry.nextMs }, 'cannot read the tenant registry; retrying');
      this.scheduleConnect();
    }
  }

  private scheduleConnect(): void {
    if (!this.closed) this.retry.schedule();
  }

  /** One read at a time; a change announced during a read triggers one more read after it. */
  private read(client: JuteClient): void {
    if (this.reading !== undefined) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readOnce(client)
      .catch((error: unknown) => {
        this.options.log.warn({ registry: this.options.path, err: (error as Error).message }, 'reading the tenant registry failed');
        if (this.client === client) client.destroy('registry read failed'); // reconnects through 'close'
      })
      .finally(() => {
        this.reading = undefined;
        if (this.readAgain && this.client === client) {
          this.readAgain = false;
          this.read(client);
        }
      });
  }

  private async readOnce(client: JuteClient): Promise<void> {
    const { path } = this.options;
    // exists() leaves a watch whether or not the znode is there: creation is noticed too.
    const exists = await client.request(OpCode.exists, { path, watch: true });
    let snapshot: RegistrySnapshot;
    if (exists.err === ErrorCode.NONODE) snapshot = { data: null, version: -1 };
    else if (exists.err !== ErrorCode.OK) throw new Error(`exists ${path}: error ${exists.err}`);
    else {
      const reply = await client.request(OpCode.getData, { path, watch: true });
      if (reply.err === ErrorCode.NONODE) snapshot = { data: null, version: -1 };
      else if (reply.err !== ErrorCode.OK)
        throw new Error(
          `getData ${path}: error ${reply.err}${reply.err === ErrorCode.NOAUTH ? ' (NOAUTH: set security.ensembleAdmin to the identity the registry belongs to)' : ''}`,
        );
      else
        snapshot = {
          data: (reply.body!.data as Buffer | null) ?? Buffer.alloc(0),
          version: (reply.body!.stat as { version: number }).version,
        };
    }
    const key = `${snapshot.version}:${snapshot.data?.toString('base64') ?? ''}`;
    if (key === this.lastDelivered) return;
    this.lastDelivered = key;
    this.options.onSnapshot(snapshot);
    this.firstSnapshot.resolve();
  }
}
