/** `zookeeper-proxy tenant create|update|list|delete`: tenants on the shared ensemble and in the proxies' registry. */
import type { Argv } from 'yargs';
import { keyValues, runOperation, withControllerOptions, type ControllerArgs } from './controller-common.ts';

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
          .option('limit', {
            type: 'string',
            array: true,
            describe: "limit override key=value (keys as in the proxy's limits:, e.g. maxZnodes=100000)",
          }),
      (args) =>
        runOperation(args as ControllerArgs, ({ operations }) =>
          operations.createTenant({ name: args.name, listener: args.listener, limits: keyValues(args.limit, 'limit') }),
        ),
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
      'delete <name>',
      'Delete a tenant: registry entry, ZooKeeper data and quota, retained Kubernetes objects. Refused while a Flink cluster is deployed',
      (command) => withControllerOptions(command).positional('name', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.deleteTenant(args.name)),
    )
    .demandCommand(1);
}
