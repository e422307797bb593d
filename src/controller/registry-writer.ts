/**
 * Publishes tenant entries in the registry znode every proxy replica watches
 * (src/config/registry.ts): compare-and-set on the znode version, retried on BADVERSION, with the
 * revision incremented on every change. An unchanged document is not rewritten.
 */
import type { RecordValue } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import { formatHostPort, type TenantConfig } from '../config/config.ts';
import { parseRegistry, serializeRegistry, type RegistryDocument, type RegistryDocumentInput } from '../config/registry.ts';
import { createNode, ensurePath, readNode, setNode } from './zookeeper.ts';

export type RegistryEntry = RegistryDocumentInput['tenants'] extends (infer E)[] | undefined ? E : never;

export class RegistryWriter {
  readonly client: JuteClient;
  readonly path: string;
  readonly acl: RecordValue[];

  constructor(client: JuteClient, path: string, acl: RecordValue[]) {
    this.client = client;
    this.path = path;
    this.acl = acl;
  }

  async read(): Promise<RegistryDocument> {
    const node = await readNode(this.client, this.path);
    return parseRegistry(node?.data);
  }

  async entry(name: string): Promise<TenantConfig | undefined> {
    return (await this.read()).tenants.find((tenant) => tenant.name === name);
  }

  /**
   * Puts `entry` in place of the tenant's current entry (or adds it); true when the document
   * changed. An entry without `hold` keeps the current entry's (a move's cut-over, docs/ensembles.md,
   * must survive a reconcile); `hold: false` clears it.
   */
  upsert(entry: RegistryEntry): Promise<boolean> {
    return this.change((tenants) => {
      const { hold: requested, ...rest } = entry;
      const hold = requested ?? tenants.find((tenant) => tenant.name === entry.name)?.hold;
      return [...tenants.filter((tenant) => tenant.name !== entry.name), { ...rest, ...(hold ? { hold } : {}) }];
    });
  }

  /** Sets or clears the tenant's `hold` (a move's cut-over); false when it has no entry or nothing changed. */
  setHold(name: string, hold: boolean): Promise<boolean> {
    return this.change((tenants) => tenants.map((t) => (t.name !== name ? t : withHold({ ...t }, hold))));
  }

  /** A move's switch, in ONE write: the tenant's entry names `ensemble` and its hold is cleared. */
  retarget(name: string, ensemble: string): Promise<boolean> {
    return this.change((tenants) => tenants.map((t) => (t.name !== name ? t : withHold({ ...t, ensemble }, false))));
  }

  /** The registry znode's version now (-1: no registry yet). */
  async version(): Promise<number> {
    return (await readNode(this.client, this.path))?.version ?? -1;
  }

  remove(name: string): Promise<boolean> {
    return this.change((tenants) => tenants.filter((tenant) => tenant.name !== name));
  }

  private async change(edit: (tenants: RegistryEntry[]) => RegistryEntry[]): Promise<boolean> {
    for (;;) {
      const node = await readNode(this.client, this.path);
      if (node === null) {
        const parent = this.path.slice(0, this.path.lastIndexOf('/'));
        if (parent !== '') await ensurePath(this.client, parent, this.acl);
        await createNode(this.client, this.path, serializeRegistry({ revision: 0, tenants: [] }), this.acl);
        continue;
      }
      const current = parseRegistry(node.data);
      const tenants = edit(current.tenants.map(asEntry)).sort((a, b) => a.name.localeCompare(b.name));
      if (JSON.stringify(tenants) === JSON.stringify(current.tenants.map(asEntry).sort((a, b) => a.name.localeCompare(b.name))))
        return false;
      if (await setNode(this.client, this.path, serializeRegistry({ revision: current.revision + 1, tenants }), node.version)) return true;
    }
  }
}

function withHold(entry: RegistryEntry, hold: boolean): RegistryEntry {
  const { hold: _dropped, ...rest } = entry;
  return hold ? { ...rest, hold: true } : rest;
}

/** A parsed entry back in its document form (listeners as "host:port" text). */
function asEntry(tenant: TenantConfig): RegistryEntry {
  return {
    name: tenant.name,
    ...(tenant.chroot === undefined ? {} : { chroot: tenant.chroot }),
    listeners: tenant.listeners.map(formatHostPort),
    ...(tenant.limits === undefined ? {} : { limits: tenant.limits }),
    ...(tenant.ensemble === undefined ? {} : { ensemble: tenant.ensemble }),
    ...(tenant.hold === undefined ? {} : { hold: tenant.hold }),
  };
}
