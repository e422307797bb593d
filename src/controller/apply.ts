/**
 * Puts rendered manifests into the world, idempotently: either a command (`kubectl apply -f -`,
 * the manifests on stdin; deletion through `kubectl delete --ignore-not-found -f -`) or a
 * directory (`<dir>/<tenant>/<set>.yaml`, for GitOps tools or inspection).
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { manifestsYaml, type Manifest } from './manifests.ts';
import type { ApplySettings } from './settings.ts';

/** `cluster`: removed by destroy; `retained`: kept until the tenant is deleted. */
export type ManifestSet = 'cluster' | 'retained';

export interface ManifestApplier {
  /** Where manifests go, for status output. */
  readonly target: string;
  apply(tenant: string, set: ManifestSet, manifests: readonly Manifest[]): Promise<void>;
  remove(tenant: string, set: ManifestSet, manifests: readonly Manifest[]): Promise<void>;
}

export function createApplier(settings: ApplySettings): ManifestApplier {
  return settings.mode === 'directory'
    ? new DirectoryApplier(settings.directory)
    : new CommandApplier(settings.command, settings.deleteCommand);
}

export class DirectoryApplier implements ManifestApplier {
  readonly directory: string;
  readonly target: string;

  constructor(directory: string) {
    this.directory = resolve(directory);
    this.target = `directory ${this.directory}`;
  }

  file(tenant: string, set: ManifestSet): string {
    return join(this.directory, tenant, `${set}.yaml`);
  }

  async apply(tenant: string, set: ManifestSet, manifests: readonly Manifest[]): Promise<void> {
    const file = this.file(tenant, set);
    await mkdir(join(this.directory, tenant), { recursive: true });
    // Write then rename: a reader (a GitOps agent) never sees half a file.
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, manifestsYaml(manifests));
    await rename(temporary, file);
  }

  async remove(tenant: string, set: ManifestSet): Promise<void> {
    await rm(this.file(tenant, set), { force: true });
    const folder = join(this.directory, tenant);
    const left = await readdir(folder).catch(() => null);
    if (left !== null && left.length === 0) await rmdir(folder).catch(() => {});
  }
}

export class CommandApplier implements ManifestApplier {
  readonly applyCommand: readonly string[];
  readonly deleteCommand: readonly string[];
  readonly target: string;

  constructor(applyCommand: readonly string[], deleteCommand: readonly string[]) {
    this.applyCommand = applyCommand;
    this.deleteCommand = deleteCommand;
    this.target = `command ${applyCommand.join(' ')}`;
  }

  apply(_tenant: string, _set: ManifestSet, manifests: readonly Manifest[]): Promise<void> {
    return runWithInput(this.applyCommand, manifestsYaml(manifests));
  }

  remove(_tenant: string, _set: ManifestSet, manifests: readonly Manifest[]): Promise<void> {
    // Reverse order: workloads go before what they use, the namespace last.
    return runWithInput(this.deleteCommand, manifestsYaml([...manifests].reverse()));
  }
}

function runWithInput(command: readonly string[], input: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const [executable, ...args] = command as [string, ...string[]];
    const child = spawn(executable, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4000) stderr += chunk;
    });
    child.stdin.on('error', () => {}); // the command may exit without reading; its exit status says why
    child.once('error', (error) => reject(new Error(`${command.join(' ')}: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${command.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
    child.stdin.end(input);
  });
}
