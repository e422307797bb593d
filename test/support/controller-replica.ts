/** A controller replica (`zookeeper-proxy controller`) as a real child process, with its HTTP API on a free port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export interface Replica {
  child: ChildProcess;
  /** http://host:port of its API (and console). */
  api: string;
  id: string;
  exited: Promise<unknown>;
}

/** Resolves on the "controller running" line (log level info or finer); `env` (ZKPROXY_SECRET, ZKPROXY_API_TOKEN, ...) is merged over process.env. */
export async function startReplica(configFile: string, env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, [CLI, 'controller', '--config', configFile, '--http-listen', '127.0.0.1:0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const lines: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // nobody holds a handle on a replica that never started
      reject(new Error(`controller did not start:\n${lines.join('\n')}`));
    }, 30_000);
    void exited.then(() => reject(new Error(`controller exited:\n${lines.join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (!line.includes('controller running')) return;
      const entry = JSON.parse(line) as { api: string; replica: string };
      clearTimeout(timer);
      resolve({ child, api: `http://${entry.api}`, id: entry.replica, exited });
    });
  });
}

/** A caller of a replica's API with a bearer token: status and JSON body of each answer. */
export function apiCaller(replica: Replica, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${replica.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
}
