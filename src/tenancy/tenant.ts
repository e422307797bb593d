/** A tenant as the proxy serves it: its name and chroot (issues to come add identity and limits). */
import { defaultChroot, type TenantConfig } from '../config/config.ts';
import { Chroot } from './chroot.ts';

export interface Tenant {
  readonly name: string;
  readonly chroot: Chroot;
}

export function tenantFromConfig(config: TenantConfig): Tenant {
  return { name: config.name, chroot: new Chroot(config.chroot ?? defaultChroot(config.name)) };
}
