/**
 * Jars of a Maven artifact set (scripts/maven/<set>/pom.xml), fetched by scripts/setup.sh into
 * .cache/maven/<set>/. The one place tests and benchmarks find them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const MAVEN_CACHE_DIR = join(REPO_ROOT, '.cache', 'maven');

/** Every jar of `set`, sorted; throws naming the set when it was not fetched. */
export function mavenClasspath(set: string): string[] {
  const dir = join(MAVEN_CACHE_DIR, set);
  if (!existsSync(join(dir, '.zkp-fetched.stamp'))) {
    throw new Error(
      `Maven artifact set ${set} is not in ${dir}: run ./zkp test (or source scripts/setup.sh and call zkp_setup_maven_sets) to fetch it`,
    );
  }
  return readdirSync(dir)
    .filter((file) => file.endsWith('.jar'))
    .sort()
    .map((file) => join(dir, file));
}
