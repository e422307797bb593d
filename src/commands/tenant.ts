/** `zookeeper-proxy tenant create|update|list|show|ensembles|move|delete`: tenants on the shared ensembles and in the proxies' registry. */
import type { Argv } from 'yargs';
import { ensembleName } from '../config/config.ts';
import { formatOutput } from '../controller/output.ts';
import type { EnsembleMeasure } from '../controller/placement.ts';
import { keyValues, runOperation, withControllerOptions, type ControllerArgs } from './controller-common.ts';

/**
 * `tenant create --ensemble <name>` places the tenant; `--ensemble host:port,...` keeps its
 * meaning on every command (the ensemble to connect to). A name never contains ':', so the
 * value says which one is meant.
 */
function splitEnsembleFlag(args: ControllerArgs): { connection: ControllerArgs; placement: string | undefined } {
  if (args.ensemble === undefined || !ensembleName.safeParse(args.ensemble).success) return { connection: args, placement: undefined };
  return { connection: { ...args, ensemble: undefined }, placement: args.ensemble };
}

/** `tenant ensembles` as a table: one line per ensemble, members as address(state). */
function ensembleRows(ensembles: (EnsembleMeasure & { home: boolean; tenants: number })[]) {
  return ensembles.map((e) => ({
    ensemble: e.ensemble,
    home: e.home,
    reachable: e.reachable,
    tenants: e.tenants,
    znodes: e.znodes,
    bytes: e.bytes,
    connections: e.connections,
    headroom: e.headroom,
    members: e.members.map((m) => `${m.address}(${m.state ?? 'unreachable'})`).join(','),
  }));
}

export function tenantCommands(yargs: Argv): Argv {
  return yargs
    .command(
      'create <name>',
      'Create a tenant: its chroot /tenants/<name> (tenant ACL identity, hard quota) and its proxy listener in the registry',
      (command) =>
        withControllerOptions(command)
          .positional('name', { type: 'string', demandOption: true })
          .option('listener', {
            type: 'string',
            describe: 'proxy listener host:port (default: the next free port of platform.tenantListenerPorts)',
          })
          .option('ensemble', {
            type: 'string',
            describe:
              'the ensemble (a name of ensembles:) to place the tenant on (default: the one with the most headroom); host:port,... instead: the ensemble to connect to, as on every command',
          })
          .option('limit', {
            type: 'string',
            array: true,
            describe: "limit override key=value (keys as in the proxy's limits:, e.g. maxZnodes=100000)",
          }),
      (args) => {
        const { connection, placement } = splitEnsembleFlag(args as ControllerArgs);
        return runOperation(connection, ({ operations }) =>
          operations.createTenant({
            name: args.name,
            listener: args.listener,
            limits: keyValues(args.limit, 'limit'),
            ...(placement === undefined ? {} : { ensemble: placement }),
          }),
        );
      },
    )
    .command(
      'update <name>',
      "Change a tenant's limits (key by key); quota and registry entry follow",
      (command) =>
        withControllerOptions(command)
          .positional('name', { type: 'string', demandOption: true })
          .option('limit', { type: 'string', array: true, demandOption: true, describe: 'limit override key=value (repeatable)' }),
      (args) =>
        runOperation(args as ControllerArgs, ({ operations }) => operations.updateLimits(args.name, keyValues(args.limit, 'limit'))),
    )
    .command(
      'list',
      'List tenants',
      (command) => withControllerOptions(command),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.list()),
    )
    .command(
      'show <name>',
      'Show a tenant: its ensemble, listener, limits and ZooKeeper usage, its Flink cluster, its reconcile state (as cluster status)',
      (command) => withControllerOptions(command).positional('name', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.status(args.name)),
    )
    .command(
      'ensembles',
      "List the ensembles tenants are placed on: members, reachability, mntr figures, headroom, tenants (the home ensemble holds the registry and the controller's state)",
      (command) => withControllerOptions(command),
      (args) =>
        runOperation(
          args as ControllerArgs,
          ({ operations }) => operations.listEnsembles(),
          (ensembles) => process.stdout.write(formatOutput(args.output === 'table' ? ensembleRows(ensembles) : ensembles, args.output)),
        ),
    )
    .command(
      'move <name>',
      "Move a tenant to another ensemble while its clients keep working (copy, sync, hold, switch, source removed); prints the move's record with its figures",
      (command) =>
        withControllerOptions(command)
          .positional('name', { type: 'string', demandOption: true })
          .option('to', { type: 'string', describe: 'the ensemble (a name of ensembles:) to move the tenant to' })
          .option('resume', { type: 'boolean', default: false, describe: 'continue a move whose mover died, from its recorded phase' })
          .option('abort', {
            type: 'boolean',
            default: false,
            describe: 'roll back a move before its switch: hold cleared, the copy on the target deleted',
          }),
      (args) =>
        runOperation(args as ControllerArgs, ({ operations }) =>
          operations.moveTenant(args.name, { to: args.to, resume: args.resume, abort: args.abort }),
        ),
    )
    .command(
      'delete <name>',
      'Delete a tenant: registry entry, ZooKeeper data and quota, retained Kubernetes objects. Refused while a Flink cluster is deployed',
      (command) => withControllerOptions(command).positional('name', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.deleteTenant(args.name)),
    )
    .demandCommand(1);
}
