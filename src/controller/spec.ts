/**
 * What a user may ask for, checked before anything is written: tenant names, tenant limits and
 * Flink cluster specifications, with the platform's defaults and minimums. Every problem is
 * reported (not only the first), each naming the field, the value and the rule.
 */
import { LimitsSchema, formatIssues, parseHostPort, type LimitsInput } from '../config/config.ts';
import { ValidationError } from './errors.ts';

/** "flink-cluster-ui-<tenant>" must fit one 63-character DNS label. */
const UI_VHOST_PREFIX = 'flink-cluster-ui-';
const MAX_TENANT_NAME_LENGTH = 63 - UI_VHOST_PREFIX.length;
const DNS_LABEL_RULE = 'tenant names are lower-case letters, digits and dashes, starting and ending with a letter or digit';

/** The problem with a tenant name, or undefined when it is fine. */
export function tenantNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'tenant name is required';
  const shown = JSON.stringify(name);
  if (name.length > MAX_TENANT_NAME_LENGTH) {
    return `tenant name ${shown} is ${name.length} characters long: at most ${MAX_TENANT_NAME_LENGTH} (${UI_VHOST_PREFIX}<tenant> must fit a 63-character DNS label)`;
  }
  const pathCharacter = ['/', '\\', '.', '\0'].find((c) => name.includes(c));
  if (pathCharacter !== undefined) return `tenant name ${shown} contains ${JSON.stringify(pathCharacter)}: ${DNS_LABEL_RULE}`;
  if (/[A-Z]/.test(name)) return `tenant name ${shown} contains upper-case letters: ${DNS_LABEL_RULE}`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) return `tenant name ${shown} is not valid: ${DNS_LABEL_RULE}`;
  return undefined;
}

export function checkTenantName(name: unknown): string {
  const problem = tenantNameProblem(name);
  if (problem !== undefined) throw new ValidationError([problem]);
  return name as string;
}

/** A tenant's limit overrides (LimitsSchema keys), or problems as `limits.<key>: message`. */
export function checkLimits(raw: unknown): LimitsInput {
  const result = LimitsSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new ValidationError(
    formatIssues(result.error.issues)
      .split('\n')
      .map((line) => `limits.${line.trim()}`.replace('limits.(root):', 'limits:')),
  );
}

export function checkListener(raw: unknown): string {
  if (typeof raw !== 'string') throw new ValidationError(['listener must be "host:port"']);
  const parsed = parseHostPort(raw);
  if (typeof parsed === 'string') throw new ValidationError([`listener ${parsed}`]);
  return raw.trim();
}

export const FLINK_VERSIONS = ['1.12', '1.15'] as const;
export type FlinkVersion = (typeof FLINK_VERSIONS)[number];

export interface ClusterSpec {
  flinkVersion: FlinkVersion;
  zone: string;
  jobManager: { cpu: number; memoryMb: number };
  taskManager: { cpu: number; memoryMb: number; instances: number };
}

/** The platform's defaults (docs: JobManager 0.3 CPU / 1024 MB; TaskManager 0.3 CPU / 3072 MB, 2 instances). */
export const CLUSTER_DEFAULTS = {
  jobManager: { cpu: 0.3, memoryMb: 1024 },
  taskManager: { cpu: 0.3, memoryMb: 3072, instances: 2 },
} as const;

export const CLUSTER_MINIMUMS = {
  jobManager: { cpu: 0.3, memoryMb: 1024 },
  taskManager: { cpu: 0.3, memoryMb: 1024, instances: 1 },
} as const;

export interface ZonePolicy {
  zones: readonly string[];
  defaultZone: string;
}

/** Fills in the defaults and checks every field against its minimum; throws ValidationError listing all problems. */
export function resolveClusterSpec(request: unknown, zones: ZonePolicy): ClusterSpec {
  const problems: string[] = [];
  if (request === null || typeof request !== 'object' || Array.isArray(request))
    throw new ValidationError(['cluster specification must be an object']);
  const input = request as Record<string, unknown>;
  for (const key of Object.keys(input))
    if (!['flinkVersion', 'zone', 'jobManager', 'taskManager'].includes(key)) problems.push(`unknown field ${JSON.stringify(key)}`);

  const version = input.flinkVersion;
  if (version === undefined) problems.push(`flinkVersion is required (supported: ${FLINK_VERSIONS.join(', ')})`);
  else if (!FLINK_VERSIONS.includes(version as FlinkVersion))
    problems.push(`flinkVersion ${JSON.stringify(version)} is not supported (supported: ${FLINK_VERSIONS.join(', ')})`);

  let zone = zones.defaultZone;
  if (input.zone !== undefined) {
    if (typeof input.zone !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(input.zone))
      problems.push(`zone ${JSON.stringify(input.zone)} is not a valid zone name`);
    else if (zones.zones.length > 0 && !zones.zones.includes(input.zone))
      problems.push(`zone ${JSON.stringify(input.zone)} is not one of the platform's zones (${zones.zones.join(', ')})`);
    else zone = input.zone;
  }

  const section = <K extends 'jobManager' | 'taskManager'>(key: K): Record<string, unknown> => {
    const value = input[key];
    if (value === undefined) return {};
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${key} must be an object`);
      return {};
    }
    const allowed = Object.keys(CLUSTER_DEFAULTS[key]);
    for (const field of Object.keys(value))
      if (!allowed.includes(field)) problems.push(`unknown field ${JSON.stringify(`${key}.${field}`)}`);
    return value as Record<string, unknown>;
  };
  const field = (key: 'jobManager' | 'taskManager', name: string, values: Record<string, unknown>, whole: boolean): number => {
    const fallback = (CLUSTER_DEFAULTS[key] as Record<string, number>)[name]!;
    const minimum = (CLUSTER_MINIMUMS[key] as Record<string, number>)[name]!;
    const value = values[name];
    if (value === undefined) return fallback;
    const label = `${key}.${name}`;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${label} ${JSON.stringify(value)} is not a number`);
      return fallback;
    }
    if (whole && !Number.isInteger(value)) problems.push(`${label} ${value} is not a whole number`);
    else if (value < minimum) problems.push(`${label} ${value} is below the minimum ${minimum}`);
    return value;
  };
  const jm = section('jobManager');
  const tm = section('taskManager');
  const spec: ClusterSpec = {
    flinkVersion: version as FlinkVersion,
    zone,
    jobManager: { cpu: field('jobManager', 'cpu', jm, false), memoryMb: field('jobManager', 'memoryMb', jm, true) },
    taskManager: {
      cpu: field('taskManager', 'cpu', tm, false),
      memoryMb: field('taskManager', 'memoryMb', tm, true),
      instances: field('taskManager', 'instances', tm, true),
    },
  };
  if (problems.length > 0) throw new ValidationError(problems);
  return spec;
}
