/**
 * Offline validation of Kubernetes manifests against the API's OpenAPI schemas, as shipped
 * (compiled) by the `kubernetes-models` package, plus a strict mode: a field the schema does not
 * declare is a problem too, as `kubectl apply --validate=strict` would report it.
 *
 * The package's compiled validators accept unknown fields and carry no JSON schema to walk, so
 * strictness is observed instead: the document is wrapped in proxies while the validator runs. The
 * validator reads every property its schema declares, and enumerates the keys of free-form maps
 * (labels, annotations, data); any key of an object that was neither read nor enumerated is
 * undeclared. An object whose keys the validator never looked at (no declared properties, e.g. a
 * RawExtension) is treated as free-form.
 */
import { parseAllDocuments } from 'yaml';
import * as coreV1 from 'kubernetes-models/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as coordinationV1 from 'kubernetes-models/coordination.k8s.io/v1';

interface ModelClass {
  kind: string;
  apiVersion: string;
  prototype: { validate(): void };
}

interface SchemaError {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

const GROUP_VERSIONS: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'batch/v1': batchV1,
  'policy/v1': policyV1,
  'networking.k8s.io/v1': networkingV1,
  'rbac.authorization.k8s.io/v1': rbacV1,
  'autoscaling/v2': autoscalingV2,
  'coordination.k8s.io/v1': coordinationV1,
};

/** apiVersion/kind pairs this validator knows, e.g. "apps/v1 Deployment". */
export const SUPPORTED_KINDS: readonly string[] = Object.entries(GROUP_VERSIONS).flatMap(([apiVersion, module]) =>
  Object.values(module)
    .filter(isModelClass)
    .map((model) => `${apiVersion} ${model.kind}`),
);

function isModelClass(value: unknown): value is ModelClass {
  return (
    typeof value === 'function' &&
    typeof (value as Partial<ModelClass>).kind === 'string' &&
    typeof (value as Partial<ModelClass>).apiVersion === 'string'
  );
}

function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const candidate = GROUP_VERSIONS[apiVersion]?.[kind];
  return isModelClass(candidate) && candidate.kind === kind ? candidate : undefined;
}

/** Problems of one manifest (a parsed object), each "path: message"; empty when valid. */
export function validateKubernetesManifest(doc: unknown): string[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return ['(root): a manifest must be a mapping'];
  const { apiVersion, kind, metadata } = doc as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['(root): apiVersion and kind are required strings'];
  const model = modelFor(apiVersion, kind);
  if (model === undefined)
    return [`(root): unknown kind "${kind}" in apiVersion "${apiVersion}" (known: ${SUPPORTED_KINDS.length} built-in kinds)`];
  const problems: string[] = [];
  // The API server requires a name; the OpenAPI schema does not say so.
  if (typeof metadata?.name !== 'string' || metadata.name === '') problems.push('/metadata/name: is required');
  const observer = new FieldObserver();
  try {
    model.prototype.validate.call(observer.wrap(doc));
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!Array.isArray(errors)) throw error;
    problems.push(...errors.map(describeSchemaError));
  }
  problems.push(...observer.undeclared(doc).map((path) => `${path}: unknown field (not in the ${kind} schema)`));
  return problems;
}

/** Problems of every document in a (multi-document) YAML text, each prefixed with the document's index and name. */
export function validateKubernetesYaml(text: string): string[] {
  const problems: string[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    if ('errors' in document && document.errors.length > 0) {
      problems.push(...document.errors.map((error) => `document ${index}: YAML: ${error.message}`));
      return;
    }
    const doc: unknown = document.toJS();
    if (doc === null || doc === undefined) return; // an empty document (e.g. after a trailing ---)
    const label = describeDocument(doc, index);
    problems.push(...validateKubernetesManifest(doc).map((problem) => `${label} ${problem}`));
  });
  return problems;
}

function describeDocument(doc: unknown, index: number): string {
  const { kind, metadata } = (doc ?? {}) as { kind?: unknown; metadata?: { name?: unknown } };
  return `document ${index} (${typeof kind === 'string' ? kind : '?'}/${typeof metadata?.name === 'string' ? metadata.name : '?'})`;
}

function describeSchemaError(error: SchemaError): string {
  const path = error.instancePath || '(root)';
  const detail =
    error.params?.missingProperty !== undefined
      ? ` (${String(error.params.missingProperty)})`
      : error.params?.allowedValues !== undefined
        ? ` (${JSON.stringify(error.params.allowedValues)})`
        : '';
  return `${path}: ${error.message ?? 'is invalid'}${detail}`;
}

/** Records which keys of each object a validator reads or enumerates. */
class FieldObserver {
  private readonly seen = new WeakMap<object, { read: Set<string>; enumerated: boolean }>();
  private readonly proxies = new WeakMap<object, object>();

  wrap<T>(value: T): T {
    if (value === null || typeof value !== 'object') return value;
    const target = value as object;
    const existing = this.proxies.get(target);
    if (existing !== undefined) return existing as T;
    const record = { read: new Set<string>(), enumerated: false };
    this.seen.set(target, record);
    const proxy = new Proxy(target, {
      get: (object, key, receiver) => {
        if (typeof key === 'string') record.read.add(key);
        return this.wrap(Reflect.get(object, key, receiver));
      },
      ownKeys: (object) => {
        record.enumerated = true;
        return Reflect.ownKeys(object);
      },
    });
    this.proxies.set(target, proxy);
    return proxy as T;
  }

  /** JSON-pointer paths of keys the validator neither read nor enumerated. */
  undeclared(value: unknown, path = ''): string[] {
    if (value === null || typeof value !== 'object') return [];
    if (Array.isArray(value)) return value.flatMap((item, index) => this.undeclared(item, `${path}/${index}`));
    const record = this.seen.get(value);
    if (record === undefined) return []; // never reached: under a field already reported, or not an object in the schema
    const checked = !record.enumerated && record.read.size > 0;
    return Object.entries(value).flatMap(([key, child]) => [
      ...(checked && !record.read.has(key) ? [`${path}/${escapePointer(key)}`] : []),
      ...this.undeclared(child, `${path}/${escapePointer(key)}`),
    ]);
  }
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
