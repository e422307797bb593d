/**
 * Runs one golden client program to completion and serves its control requests.
 *
 * The client programs decide *when* the network should misbehave (they know which watches are
 * registered); the relay is here. They talk over stdio: the client prints "@@golden <command>"
 * and blocks reading one line from stdin; we act on the relay and answer "ok ...". Every other
 * stdout line is progress, echoed with the client's name; stderr (JVM and library logging) goes
 * to a log file that is shown only if the client fails.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { RecordingRelay } from './recorder.ts';

export interface ClientCommand {
  name: string;
  executable: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Whole-run limit: a wedged client must fail the capture, not hang it. */
  timeoutMs: number;
}

const CONTROL_PREFIX = '@@golden ';

/** What each control command does to the relay. */
function applyControl(relay: RecordingRelay, command: string): string {
  switch (command) {
    case 'drop':
      return `ok dropped ${relay.dropConnections()}`;
    case 'drop-and-hold':
      // Hold first: the client must not slip back in between the drop and the hold.
      relay.hold();
      return `ok dropped ${relay.dropConnections()}, holding`;
    case 'release':
      relay.release();
      return 'ok released';
    default:
      throw new Error(`unknown control command "${command}"`);
  }
}

export async function runClient(command: ClientCommand, relay: RecordingRelay, stderrLogFile: string): Promise<void> {
  const child = spawn(command.executable, command.args, {
    env: { ...process.env, ...command.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderrLog = createWriteStream(stderrLogFile);
  child.stderr.pipe(stderrLog);

  let controlError: Error | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (!line.startsWith(CONTROL_PREFIX)) {
      console.log(`[${command.name}] ${line}`);
      return;
    }
    const request = line.slice(CONTROL_PREFIX.length).trim();
    let answer: string;
    try {
      answer = applyControl(relay, request);
    } catch (error) {
      controlError = error as Error;
      answer = `error ${controlError.message}`;
    }
    console.log(`[${command.name}] control: ${request} -> ${answer}`);
    child.stdin.write(`${answer}\n`);
  });

  const timer = setTimeout(() => {
    console.error(`[${command.name}] still running after ${command.timeoutMs} ms, killing it`);
    child.kill('SIGKILL');
  }, command.timeoutMs);

  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  clearTimeout(timer);
  await new Promise((resolve) => stderrLog.end(resolve));
  relay.release(); // never leave a held relay behind a failed client

  if (code !== 0 || controlError) {
    const tail = readFileSync(stderrLogFile, 'utf8').split('\n').slice(-60).join('\n');
    throw new Error(
      `client ${command.name} failed (exit ${code ?? signal})${controlError ? `: ${controlError.message}` : ''}\n` +
        `--- last lines of ${stderrLogFile} ---\n${tail}`,
    );
  }
}
