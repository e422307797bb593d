/**
 * Render without applying (`cluster deploy --dry-run`, `PUT .../cluster?dryRun=true`): the
 * validated spec, the Flink configuration and every manifest a deploy would apply, computed from
 * the platform settings and the tenant's listener alone: no desired state, no ensemble, no
 * manifest directory is read or written.
 */
import { parseHostPort, type HostPort } from '../config/config.ts';
import { ProblemList } from './errors.ts';
import { manifestsYaml, renderCluster, type Manifest } from './manifests.ts';
import type { PlatformSettings } from './settings.ts';
import { checkListener, checkTenantName, resolveClusterSpec, type ClusterSpec } from './spec.ts';

export interface ClusterPreview {
  tenant: string;
  dryRun: true;
  spec: ClusterSpec;
  listener: string;
  zookeeperAddress: string;
  namespace: string;
  bucket: string;
  ui: string;
  flinkConfig: { jobManager: string; taskManager: string };
  /** What `destroy` keeps first (namespace, job volume, bucket configuration), then the cluster. */
  manifests: Manifest[];
}

/** Validates everything first and lists every problem (tenant name, listener, spec) at once. */
export function previewCluster(tenant: unknown, request: unknown, listener: unknown, platform: PlatformSettings): ClusterPreview {
  const found = new ProblemList();
  const name = found.check(() => checkTenantName(tenant));
  const address = found.check(() => checkListener(listener));
  const spec = found.check(() => resolveClusterSpec(request, platform));
  found.throwIfAny();
  const port = (parseHostPort(address!) as HostPort).port;
  const rendered = renderCluster({ tenant: name!, spec: spec!, listenerPort: port, platform });
  return {
    tenant: name!,
    dryRun: true,
    spec: spec!,
    listener: address!,
    zookeeperAddress: rendered.zookeeperAddress,
    namespace: rendered.namespace,
    bucket: rendered.bucket,
    ui: `https://${rendered.uiHost}`,
    flinkConfig: { jobManager: rendered.jobManagerConfig, taskManager: rendered.taskManagerConfig },
    manifests: [...rendered.retained, ...rendered.cluster],
  };
}

/** The preview as one YAML stream (like `helm template`): a comment header, then the manifests, ready for `kubectl apply -f -`. */
export function previewYamlStream(preview: ClusterPreview): string {
  const { spec } = preview;
  const header = [
    `# dry run: nothing was applied or recorded for tenant ${preview.tenant}`,
    `# Flink ${spec.flinkVersion} in zone ${spec.zone}: JobManager ${spec.jobManager.cpu} CPU / ${spec.jobManager.memoryMb} MB,` +
      ` ${spec.taskManager.instances} x TaskManager ${spec.taskManager.cpu} CPU / ${spec.taskManager.memoryMb} MB`,
    `# ZooKeeper (HA) ${preview.zookeeperAddress}, namespace ${preview.namespace}, bucket ${preview.bucket}, UI ${preview.ui}`,
    '# JobManager flink-conf.yaml:',
    ...preview.flinkConfig.jobManager
      .trimEnd()
      .split('\n')
      .map((line) => `#   ${line}`),
    '# TaskManager flink-conf.yaml:',
    ...preview.flinkConfig.taskManager
      .trimEnd()
      .split('\n')
      .map((line) => `#   ${line}`),
  ];
  return `${header.join('\n')}\n${manifestsYaml(preview.manifests)}`;
}
