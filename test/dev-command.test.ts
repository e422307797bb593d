/**
 * The README's first command, `./zkp dev` (= `zookeeper-proxy dev`): it starts its own ensemble
 * and the proxy with two demo tenants, prints ONE JSON line that scripts parse (a contract:
 * ensemble, admin, tenants, platform), serves both tenants in their own chroots, lets the
 * controller add a tenant that it serves at once, and removes everything it started on Ctrl-C.
 * `--ensembles 2` starts two ensembles and puts each demo tenant on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { describeRun, runProcess } from './support/run-process.ts';

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

interface DevLine {
  ensemble: string;
  ensembles: Record<string, string>;
  admin: string;
  tenants: Record<string, string>;
  platform: { registry: string; secretFile: string; ensembleAdmin: string; controllerConfig: string };
}

/** The JSON line dev prints first. */
function firstLine(child: ChildProcess, stderr: string[]): Promise<DevLine> {
  return new Promise<DevLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no JSON line:\n${stderr.join('\n')}`)), 60_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as DevLine);
    });
  });
}

/** A direct session with an ensemble's first member, as its super user. */
async function direct(connectString: string, ensembleAdmin: string): Promise<JuteClient> {
  const [host, port] = connectString.split(',')[0]!.split(':') as [string, string];
  const client = await JuteClient.connect({ host, port: Number(port), sessionTimeoutMs: 10_000 });
  await client.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(ensembleAdmin) });
  return client;
}

describe('zookeeper-proxy dev', () => {
  it('prints the endpoints as one JSON line, serves the demo tenants in separate chroots, serves a tenant the controller creates, and exits 0 on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, 'dev', '--size', '1', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await firstLine(child, stderr);
      expect(Object.keys(line.tenants).sort()).toEqual(['demo-a', 'demo-b']);
      expect(line.ensembles).toEqual({ default: line.ensemble });
      expect(line.platform.registry).toBe('/zkproxy/registry');
      const ready = await fetch(`http://${line.admin}/readyz`);
      expect(ready.status).toBe(200);

      const [host, port] = line.tenants['demo-a']!.split(':') as [string, string];
      const a = await JuteClient.connect({ host, port: Number(port), sessionTimeoutMs: 10_000 });
      const [hostB, portB] = line.tenants['demo-b']!.split(':') as [string, string];
      const b = await JuteClient.connect({ host: hostB, port: Number(portB), sessionTimeoutMs: 10_000 });
      try {
        await a.call(OpCode.create, { path: '/hello', data: Buffer.from('from a'), acl: OPEN, flags: 0 });
        expect((await b.request(OpCode.exists, { path: '/hello', watch: false })).err).toBe(ErrorCode.NONODE);
      } finally {
        await a.close();
        await b.close();
      }

      // The controller flow of docs/controller.md and the README's tour: the new tenant is served at once.
      const manifests = mkdtempSync(join(tmpdir(), 'zkp-dev-manifests-'));
      try {
        const cli = (...args: string[]) =>
          runProcess(process.execPath, [CLI, ...args, '--config', line.platform.controllerConfig], { timeoutMs: 60_000 });
        const created = await cli('tenant', 'create', 'acme', '-o', 'json');
        expect(created.code, describeRun(created)).toBe(0);
        const listener = (JSON.parse(created.stdout) as { listener: string }).listener;
        const [acmeHost, acmePort] = listener.split(':') as [string, string];
        const acme = await JuteClient.connect({ host: acmeHost, port: Number(acmePort), sessionTimeoutMs: 10_000 });
        expect((await acme.request(OpCode.exists, { path: '/hello', watch: false })).err).toBe(ErrorCode.NONODE);
        await acme.close();
        const deployed = await cli('cluster', 'deploy', 'acme', '--flink-version', '1.15', '--manifest-dir', manifests, '-o', 'json');
        expect(deployed.code, describeRun(deployed)).toBe(0);
        expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toContain(`high-availability.zookeeper.quorum: ${listener}`);
      } finally {
        rmSync(manifests, { recursive: true, force: true });
      }
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);

  it('--ensembles 2: two ensembles zk-1 and zk-2, demo-a on the first and demo-b on the second, and a controller configuration naming both', async () => {
    const child = spawn(process.execPath, [CLI, 'dev', '--size', '1', '--ensembles', '2', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await firstLine(child, stderr);
      expect(Object.keys(line.ensembles)).toEqual(['zk-1', 'zk-2']);
      expect(line.ensemble).toBe(line.ensembles['zk-1']);
      expect(line.ensembles['zk-2']).not.toBe(line.ensemble);
      const state = (await (await fetch(`http://${line.admin}/admin/state`)).json()) as { tenants: { name: string; ensemble: string }[] };
      expect(state.tenants.map((t) => [t.name, t.ensemble])).toEqual([
        ['demo-a', 'zk-1'],
        ['demo-b', 'zk-2'],
      ]);
      const controller = JSON.parse(readFileSync(line.platform.controllerConfig, 'utf8')) as Record<string, unknown>;
      expect(controller.ensemble).toBeUndefined();
      expect(controller.ensembles).toEqual({ 'zk-1': { members: line.ensembles['zk-1'] }, 'zk-2': { members: line.ensembles['zk-2'] } });

      for (const [tenant, own, other] of [
        ['demo-a', 'zk-1', 'zk-2'],
        ['demo-b', 'zk-2', 'zk-1'],
      ] as const) {
        const [host, port] = line.tenants[tenant]!.split(':') as [string, string];
        const client = await JuteClient.connect({ host, port: Number(port), sessionTimeoutMs: 10_000 });
        await client.call(OpCode.create, { path: '/hello', data: null, acl: OPEN, flags: 0 });
        await client.close();
        const ownTree = await direct(line.ensembles[own]!, line.platform.ensembleAdmin);
        const otherTree = await direct(line.ensembles[other]!, line.platform.ensembleAdmin);
        try {
          expect((await ownTree.request(OpCode.exists, { path: `/tenants/${tenant}/hello`, watch: false })).err).toBe(ErrorCode.OK);
          expect((await otherTree.request(OpCode.exists, { path: `/tenants/${tenant}`, watch: false })).err).toBe(ErrorCode.NONODE);
        } finally {
          await ownTree.close();
          await otherTree.close();
        }
      }
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});
