/**
 * Python interpreters for client programs: Debian's (with python3-kazoo 2.8) and the venv that
 * scripts/setup.sh (zkp_setup_python_venv) fills from scripts/python/requirements.txt.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './maven.ts';

export const DEBIAN_PYTHON = '/usr/bin/python3';
export const PYTHON_VENV_DIR = join(REPO_ROOT, '.cache', 'python-venv');

/** The venv's python; throws naming the set-up step when it is missing. */
export function venvPython(): string {
  const python = join(PYTHON_VENV_DIR, 'bin', 'python');
  if (!existsSync(join(PYTHON_VENV_DIR, '.zkp-installed.stamp'))) {
    throw new Error(`no Python venv in ${PYTHON_VENV_DIR}: run ./zkp test (scripts/setup.sh zkp_setup_python_venv)`);
  }
  return python;
}
