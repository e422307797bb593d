/**
 * The tenant registry stored in the ensemble itself: one znode (default `/zkproxy/registry`,
 * outside every tenant chroot) whose data is a UTF-8 JSON document
 *
 *     { "revision": 7, "tenants": [ <tenant entries, exactly as under `tenants:` in the config file> ] }
 *
 * The controller writes it (compare-and-set on the znode version); every proxy replica watches it
 * and applies it whole, so replicas converge. A document that does not parse or validate is
 * rejected whole and the last good registry stays in force.
 */
import { z } from 'zod';
import { ConfigError, TenantSchema, formatIssues } from './config.ts';

export const DEFAULT_REGISTRY_PATH = '/zkproxy/registry';

export const RegistryDocumentSchema = z.strictObject({
  /** Increases with every write; informational (logs, /admin/state). */
  revision: z.number().int().nonnegative().default(0),
  tenants: z.array(TenantSchema).default([]),
});

export type RegistryDocument = z.output<typeof RegistryDocumentSchema>;
export type RegistryDocumentInput = z.input<typeof RegistryDocumentSchema>;

/** Parses and validates a registry znode's data; throws ConfigError naming every problem. */
export function parseRegistry(data: Buffer | null | undefined): RegistryDocument {
  if (data === null || data === undefined || data.length === 0) return { revision: 0, tenants: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch (error) {
    throw new ConfigError(`invalid registry: not JSON (${(error as Error).message})`);
  }
  const result = RegistryDocumentSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`invalid registry:\n${formatIssues(result.error.issues)}`);
  return result.data;
}

/** The znode data for a document; throws when the document itself does not validate. */
export function serializeRegistry(document: RegistryDocumentInput): Buffer {
  RegistryDocumentSchema.parse(document);
  // The input, not the parsed output: parsing turns listener strings into objects.
  return Buffer.from(`${JSON.stringify({ revision: document.revision ?? 0, tenants: document.tenants ?? [] }, null, 1)}\n`, 'utf8');
}
