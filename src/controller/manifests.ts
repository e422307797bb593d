/**
 * A tenant's Flink cluster as Kubernetes objects. Two sets:
 *  - `cluster`: the workloads, their configuration, Services and the UI Ingress: what `destroy` removes;
 *  - `retained`: the namespace, the 20 GiB job volume and the bucket configuration: kept across
 *    destroy/deploy (the tenant's jobs and state come back), removed only when the tenant is deleted.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import {
  FLINK_VERSION_FEATURES,
  JOBMANAGER_NAME,
  PORTS,
  STORAGE_MOUNT,
  TASKMANAGER_NAME,
  formatFlinkConfig,
  jobManagerConfig,
  taskManagerConfig,
  type FlinkConfigInput,
} from './flink-config.ts';
import { fillTenant, type PlatformSettings } from './settings.ts';
import type { ClusterSpec } from './spec.ts';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

export interface RenderedCluster {
  namespace: string;
  uiHost: string;
  bucket: string;
  zookeeperAddress: string;
  jobManagerConfig: string;
  taskManagerConfig: string;
  cluster: Manifest[];
  retained: Manifest[];
}

const JOB_VOLUME = { name: 'faas-volume', size: '20Gi' } as const;
const BUCKET_CONFIG_NAME = 'flink-cluster-bucket';
const CONF_DIR = '/opt/flink/conf';
const MANAGED_BY = 'zookeeper-proxy-controller';

const LOG_CONFIG = [
  'rootLogger.level = INFO',
  'rootLogger.appenderRef.console.ref = ConsoleAppender',
  'appender.console.name = ConsoleAppender',
  'appender.console.type = CONSOLE',
  'appender.console.layout.type = PatternLayout',
  'appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n',
  '',
].join('\n');

export interface RenderInput {
  tenant: string;
  spec: ClusterSpec;
  /** The tenant's proxy listener port (for `{port}` in platform.proxyAddress). */
  listenerPort: number;
  platform: PlatformSettings;
}

const cpu = (cores: number) => `${Math.round(cores * 1000)}m`;
const memory = (mb: number) => `${mb}Mi`;

export function renderCluster({ tenant, spec, listenerPort, platform }: RenderInput): RenderedCluster {
  const namespace = fillTenant(platform.namespace, tenant);
  const bucket = fillTenant(platform.bucket.name, tenant);
  const zookeeperAddress = fillTenant(platform.proxyAddress, tenant, { port: listenerPort });
  const uiHost = `flink-cluster-ui-${tenant}.${platform.domain}`;
  const configInput: FlinkConfigInput = { tenant, spec, zookeeperAddress, bucket, bucketEndpoint: platform.bucket.endpoint };
  const jmConf = formatFlinkConfig(jobManagerConfig(configInput));
  const tmConf = formatFlinkConfig(taskManagerConfig(configInput));
  const labels = (component?: string) => ({
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/part-of': 'flink-cluster',
    'zookeeper-proxy/tenant': tenant,
    ...(component === undefined ? {} : { 'app.kubernetes.io/component': component }),
  });
  const meta = (name: string, component?: string) => ({ name, namespace, labels: labels(component) });
  const image = platform.images[spec.flinkVersion];
  const s3Plugin = `flink-s3-fs-hadoop-${FLINK_VERSION_FEATURES[spec.flinkVersion].patch}.jar`;
  const env = [
    { name: 'ENABLE_BUILT_IN_PLUGINS', value: s3Plugin },
    ...['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((key) => ({
      name: key,
      valueFrom: { secretKeyRef: { name: platform.bucket.credentialsSecret, key, optional: true } },
    })),
  ];

  const workload = (
    name: string,
    component: string,
    replicas: number,
    resources: { cpu: number; memoryMb: number },
    conf: string,
    args: string[],
    ports: { name: string; containerPort: number }[],
    volumes: boolean,
  ): Manifest => {
    const configMap = `${name}-config`;
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(name, component),
      spec: {
        replicas,
        // The job volume is ReadWriteOnce: never two JobManagers at once.
        strategy: { type: volumes ? 'Recreate' : 'RollingUpdate' },
        selector: { matchLabels: { 'zookeeper-proxy/tenant': tenant, 'app.kubernetes.io/component': component } },
        template: {
          metadata: {
            labels: labels(component),
            // A changed configuration rolls the pods.
            annotations: { 'zookeeper-proxy/config-hash': createHash('sha256').update(conf).digest('hex').slice(0, 16) },
          },
          spec: {
            nodeSelector: { [platform.zoneLabel]: spec.zone },
            containers: [
              {
                name: component,
                image,
                args,
                env,
                ports,
                resources: {
                  requests: { cpu: cpu(resources.cpu), memory: memory(resources.memoryMb) },
                  limits: { cpu: cpu(resources.cpu), memory: memory(resources.memoryMb) },
                },
                volumeMounts: [
                  { name: 'flink-config', mountPath: CONF_DIR },
                  ...(volumes ? [{ name: JOB_VOLUME.name, mountPath: STORAGE_MOUNT }] : []),
                ],
              },
            ],
            volumes: [
              { name: 'flink-config', configMap: { name: configMap } },
              ...(volumes ? [{ name: JOB_VOLUME.name, persistentVolumeClaim: { claimName: JOB_VOLUME.name } }] : []),
            ],
          },
        },
      },
    };
  };
  const configMap = (name: string, conf: string): Manifest => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(`${name}-config`),
    data: { 'flink-conf.yaml': conf, 'log4j-console.properties': LOG_CONFIG },
  });
  const servicePort = (name: string, port: number) => ({ name, port, targetPort: port, protocol: 'TCP' });

  const cluster: Manifest[] = [
    configMap(JOBMANAGER_NAME, jmConf),
    configMap(TASKMANAGER_NAME, tmConf),
    workload(
      JOBMANAGER_NAME,
      'jobmanager',
      1,
      spec.jobManager,
      jmConf,
      ['jobmanager'],
      [
        { name: 'rpc', containerPort: PORTS.rpc },
        { name: 'blob', containerPort: PORTS.blob },
        { name: 'rest', containerPort: PORTS.rest },
        { name: 'metrics', containerPort: PORTS.metrics },
      ],
      true,
    ),
    workload(
      TASKMANAGER_NAME,
      'taskmanager',
      spec.taskManager.instances,
      spec.taskManager,
      tmConf,
      ['taskmanager'],
      [
        { name: 'data', containerPort: 6122 },
        { name: 'metrics', containerPort: PORTS.metrics },
      ],
      false,
    ),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(JOBMANAGER_NAME, 'jobmanager'),
      spec: {
        type: 'ClusterIP',
        selector: { 'zookeeper-proxy/tenant': tenant, 'app.kubernetes.io/component': 'jobmanager' },
        ports: [
          servicePort('rpc', PORTS.rpc),
          servicePort('blob', PORTS.blob),
          servicePort('rest', PORTS.rest),
          servicePort('metrics', PORTS.metrics),
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(TASKMANAGER_NAME, 'taskmanager'),
      spec: {
        type: 'ClusterIP',
        selector: { 'zookeeper-proxy/tenant': tenant, 'app.kubernetes.io/component': 'taskmanager' },
        ports: [servicePort('metrics', PORTS.metrics)],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: meta(`flink-cluster-ui-${tenant}`, 'ui'),
      spec: {
        ...(platform.ingressClassName === undefined ? {} : { ingressClassName: platform.ingressClassName }),
        tls: [{ hosts: [uiHost], secretName: `flink-cluster-ui-${tenant}-tls` }],
        rules: [
          {
            host: uiHost,
            http: {
              paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: JOBMANAGER_NAME, port: { number: PORTS.rest } } } }],
            },
          },
        ],
      },
    },
  ];
  const retained: Manifest[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: labels() } },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: meta(JOB_VOLUME.name),
      spec: {
        accessModes: ['ReadWriteOnce'],
        ...(platform.storageClassName === undefined ? {} : { storageClassName: platform.storageClassName }),
        resources: { requests: { storage: JOB_VOLUME.size } },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(BUCKET_CONFIG_NAME),
      data: {
        BUCKET_NAME: bucket,
        BUCKET_ENDPOINT: platform.bucket.endpoint,
        BUCKET_URL: `s3://${bucket}`,
        CREDENTIALS_SECRET: platform.bucket.credentialsSecret,
      },
    },
  ];
  return { namespace, uiHost, bucket, zookeeperAddress, jobManagerConfig: jmConf, taskManagerConfig: tmConf, cluster, retained };
}

/** Multi-document YAML, one document per object, in order. */
export function manifestsYaml(manifests: readonly Manifest[]): string {
  return manifests.map((manifest) => `---\n${stringify(manifest, { lineWidth: 0 })}`).join('');
}
