/**
 * A tenant's Flink configuration (flink-conf.yaml) for the JobManager and the TaskManagers: the
 * platform's fixed settings, high availability through the tenant's ZooKeeper proxy address, and
 * state, checkpoints and savepoints in the tenant's bucket.
 */
import type { ClusterSpec, FlinkVersion } from './spec.ts';

export const JOBMANAGER_NAME = 'flink-cluster-jobmanager';
export const TASKMANAGER_NAME = 'flink-cluster-taskmanager';
export const PORTS = { rpc: 6123, blob: 6124, rest: 8081, metrics: 9163 } as const;
/** Where the job volume is mounted in the JobManager. */
export const STORAGE_MOUNT = '/storage';

/** What differs between the supported Flink versions (see shared/reference/flink-ha-zookeeper.md). */
export const FLINK_VERSION_FEATURES: Record<FlinkVersion, { patch: string; ensembleTrackerOption: boolean }> = {
  // high-availability.zookeeper.client.ensemble-tracker exists from Flink 1.18 (FLINK-31780) only;
  // for 1.12 and 1.15 the proxy's hiding of /zookeeper/config keeps clients on the proxy instead.
  '1.12': { patch: '1.12.2', ensembleTrackerOption: false },
  '1.15': { patch: '1.15.2', ensembleTrackerOption: false },
};

export interface FlinkConfigInput {
  tenant: string;
  spec: ClusterSpec;
  /** host:port Flink's ZooKeeper client connects to: the tenant's proxy address. */
  zookeeperAddress: string;
  bucket: string;
  bucketEndpoint: string;
}

export type FlinkConfig = Record<string, string>;

const METRICS: FlinkConfig = {
  'metrics.reporters': 'prom',
  'metrics.reporter.prom.class': 'org.apache.flink.metrics.prometheus.PrometheusReporter',
  'metrics.reporter.prom.port': String(PORTS.metrics),
};

function shared(input: FlinkConfigInput): FlinkConfig {
  const bucket = `s3://${input.bucket}`;
  return {
    'jobmanager.rpc.address': JOBMANAGER_NAME,
    'jobmanager.rpc.port': String(PORTS.rpc),
    'blob.server.port': String(PORTS.blob),
    ...METRICS,
    'high-availability': 'zookeeper',
    'high-availability.zookeeper.quorum': input.zookeeperAddress,
    'high-availability.zookeeper.path.root': '/flink',
    // Fixed, so that a redeploy finds the HA state (job graphs, checkpoint pointers) again.
    'high-availability.cluster-id': '/flink-cluster',
    'high-availability.storageDir': `${bucket}/ha`,
    ...(FLINK_VERSION_FEATURES[input.spec.flinkVersion].ensembleTrackerOption
      ? { 'high-availability.zookeeper.client.ensemble-tracker': 'false' }
      : {}),
    'state.backend': 'filesystem',
    'state.checkpoints.dir': `${bucket}/checkpoints`,
    'state.savepoints.dir': `${bucket}/savepoints`,
    's3.endpoint': input.bucketEndpoint,
    's3.path.style.access': 'true',
  };
}

export function jobManagerConfig(input: FlinkConfigInput): FlinkConfig {
  return {
    ...shared(input),
    'rest.port': String(PORTS.rest),
    'blob.storage.directory': `${STORAGE_MOUNT}/blob-store`,
    'web.upload.dir': `${STORAGE_MOUNT}/web-upload`,
    'restart-strategy': 'fixed-delay',
    'restart-strategy.fixed-delay.delay': '10 s',
    'restart-strategy.fixed-delay.attempts': '1440',
    'jobmanager.memory.process.size': `${input.spec.jobManager.memoryMb}m`,
  };
}

export function taskManagerConfig(input: FlinkConfigInput): FlinkConfig {
  return {
    ...shared(input),
    'parallelism.default': '1',
    'taskmanager.numberOfTaskSlots': '1',
    'taskmanager.memory.process.size': `${input.spec.taskManager.memoryMb}m`,
  };
}

/** flink-conf.yaml text: one `key: value` per line (Flink's flat format), keys sorted. */
export function formatFlinkConfig(config: FlinkConfig): string {
  return `${Object.keys(config)
    .sort()
    .map((key) => `${key}: ${config[key]}`)
    .join('\n')}\n`;
}

/** Parses flink-conf.yaml text as Flink does (flat `key: value`, # comments). */
export function parseFlinkConfig(text: string): FlinkConfig {
  const config: FlinkConfig = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const colon = trimmed.indexOf(': ');
    if (colon > 0) config[trimmed.slice(0, colon)] = trimmed.slice(colon + 2).trim();
  }
  return config;
}
