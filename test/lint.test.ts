/** The linter and the formatter (Biome, configured in biome.json) pass on every source, test and benchmark file. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const biome = join(dirname(createRequire(import.meta.url).resolve('@biomejs/biome/package.json')), 'bin', 'biome');

describe('code style', () => {
  it('biome lint finds nothing (npm run lint)', () => {
    const result = spawnSync(process.execPath, [biome, 'lint', '--error-on-warnings', '--colors=off'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  }, 60_000);

  it('every file is formatted as biome format writes it (npm run format)', () => {
    const result = spawnSync(process.execPath, [biome, 'format', '--colors=off'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  }, 60_000);
});
