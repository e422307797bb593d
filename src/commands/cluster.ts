/** `zookeeper-proxy cluster deploy|destroy|status`: a tenant's Flink cluster. */
import type { Argv } from 'yargs';
import { ValidationError } from '../controller/errors.ts';
import { formatOutput } from '../controller/output.ts';
import { previewCluster, previewYamlStream, type ClusterPreview } from '../controller/preview.ts';
import { loadPlatformSettings } from '../controller/settings.ts';
import { FLINK_VERSIONS } from '../controller/spec.ts';
import { exitCodeOf, numberOrText, reportError, runOperation, withControllerOptions, type ControllerArgs } from './controller-common.ts';

/** Only the flags given: the platform's defaults fill in the rest. */
function clusterRequest(args: Record<string, unknown>): Record<string, unknown> {
  const pick = (entries: [string, unknown][]) => Object.fromEntries(entries.filter(([, v]) => v !== undefined));
  const text = (key: string) => numberOrText(args[key] as string | undefined);
  const jobManager = pick([
    ['cpu', text('jobmanagerCpu')],
    ['memoryMb', text('jobmanagerMemory')],
  ]);
  const taskManager = pick([
    ['cpu', text('taskmanagerCpu')],
    ['memoryMb', text('taskmanagerMemory')],
    ['instances', text('taskmanagers')],
  ]);
  return pick([
    ['flinkVersion', args.flinkVersion],
    ['zone', args.zone],
    ['jobManager', Object.keys(jobManager).length > 0 ? jobManager : undefined],
    ['taskManager', Object.keys(taskManager).length > 0 ? taskManager : undefined],
  ]);
}

interface DeployArgs extends ControllerArgs {
  tenant: string;
  dryRun?: boolean | undefined;
  listener?: string | undefined;
}

/** A preview as `-o json|yaml` documents, or (table) as a YAML stream ready for `kubectl apply -f -`. */
function printPreview(preview: ClusterPreview, args: ControllerArgs): void {
  process.stdout.write(args.output === 'table' ? previewYamlStream(preview) : formatOutput(preview, args.output));
}

/** `--dry-run --listener`: rendered from the configuration's platform section only, no ensemble contacted. */
function renderOffline(args: DeployArgs): never {
  let code = 0;
  try {
    printPreview(
      previewCluster(
        args.tenant,
        clusterRequest(args as unknown as Record<string, unknown>),
        args.listener,
        loadPlatformSettings(args.config),
      ),
      args,
    );
  } catch (error) {
    reportError(error);
    code = exitCodeOf(error);
  }
  process.exit(code);
}

async function deploy(args: DeployArgs): Promise<never> {
  const request = clusterRequest(args as unknown as Record<string, unknown>);
  if (!args.dryRun) {
    if (args.listener !== undefined) {
      reportError(new ValidationError(["--listener is only for --dry-run: a deploy uses the tenant's recorded listener"]));
      process.exit(2);
    }
    return runOperation(args, ({ operations }) => operations.deploy(args.tenant, request));
  }
  if (args.listener !== undefined) return renderOffline(args);
  return runOperation(
    args,
    ({ operations }) => operations.deployDryRun(args.tenant, request),
    (preview) => printPreview(preview, args),
  );
}

export function clusterCommands(yargs: Argv): Argv {
  return yargs
    .command(
      'deploy <tenant>',
      "Deploy (or change) the tenant's Flink cluster: render its Flink configuration and Kubernetes manifests, and apply them",
      (command) =>
        withControllerOptions(command)
          .positional('tenant', { type: 'string', demandOption: true })
          .option('flink-version', { type: 'string', demandOption: true, describe: `Flink version (${FLINK_VERSIONS.join(' or ')})` })
          .option('zone', { type: 'string', describe: 'zone (default platform.defaultZone)' })
          .option('jobmanager-cpu', { type: 'string', describe: 'JobManager CPUs (default 0.3, minimum 0.3)' })
          .option('jobmanager-memory', { type: 'string', describe: 'JobManager memory in MB (default 1024, minimum 1024)' })
          .option('taskmanager-cpu', { type: 'string', describe: 'TaskManager CPUs (default 0.3, minimum 0.3)' })
          .option('taskmanager-memory', { type: 'string', describe: 'TaskManager memory in MB (default 3072, minimum 1024)' })
          .option('taskmanagers', { type: 'string', describe: 'TaskManager instances (default 2, minimum 1)' })
          .option('dry-run', {
            type: 'boolean',
            describe: 'validate and print the Flink configuration and manifests; record, apply and converge nothing',
          })
          .option('listener', {
            type: 'string',
            describe: "with --dry-run: the tenant's proxy listener host:port; then no ensemble is contacted",
          }),
      (args) => deploy(args as unknown as DeployArgs),
    )
    .command(
      'destroy <tenant>',
      "Remove the Flink cluster's workloads and UI vhost; the tenant's ZooKeeper state, proxy entry, job volume and bucket stay for the next deploy",
      (command) => withControllerOptions(command).positional('tenant', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.destroy(args.tenant)),
    )
    .command(
      'status <tenant>',
      "What is deployed (with resources) and the tenant's ZooKeeper usage against its quota",
      (command) => withControllerOptions(command).positional('tenant', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.status(args.tenant)),
    )
    .demandCommand(1);
}
