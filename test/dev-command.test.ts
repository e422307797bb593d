/**
 * The README's first command, `./zkp dev` (= `zookeeper-proxy dev`): it starts its own ensemble
 * and the proxy with two demo tenants, prints ONE JSON line that scripts parse (a contract:
 * ensemble, admin, tenants, platform), serves both tenants in their own chroots, and removes
 * everything it started on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

interface DevLine {
  ensemble: string;
  admin: string;
  tenants: Record<string, string>;
  platform: { registry: string; secretFile: string; ensembleAdmin: string };
}

describe('zookeeper-proxy dev', () => {
  it('prints the endpoints as one JSON line, serves the demo tenants in separate chroots, and exits 0 on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, 'dev', '--size', '1', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const first = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no JSON line:\n${stderr.join('\n')}`)), 60_000);
        createInterface({ input: child.stdout! }).once('line', (line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
      const line = JSON.parse(first) as DevLine;
      expect(Object.keys(line.tenants).sort()).toEqual(['demo-a', 'demo-b']);
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
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});
