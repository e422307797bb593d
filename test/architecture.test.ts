/**
 * The folder layout is the architecture: folders of src/ depend on each other without cycles, and
 * protocol/ (the jute-ts package) depends on nothing of src/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Relative import specifiers of a file (static imports, re-exports and dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((match) => match[1]!);
}

/** src/<folder>/... → folder; src/<file>.ts → '.' */
function folderOf(file: string): string {
  const parts = relative(join(ROOT, 'src'), file).split(sep);
  return parts.length > 1 ? parts[0]! : '.';
}

function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sources(join(ROOT, 'src'))) {
    const from = folderOf(file);
    if (!graph.has(from)) graph.set(from, new Set());
    for (const spec of importsOf(file)) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(join(ROOT, 'src') + sep)) continue;
      const to = folderOf(target);
      if (to !== from) graph.get(from)!.add(to);
    }
  }
  return graph;
}

function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle !== undefined) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

describe('architecture', () => {
  it('the folders of src/ import each other without a cycle', () => {
    const graph = folderGraph();
    expect(graph.size).toBeGreaterThan(5);
    expect(findCycle(graph), 'folder cycle').toBeUndefined();
  });

  it('the cycle check finds a cycle when there is one', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(findCycle(graph)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('protocol/ imports nothing from src/', () => {
    for (const file of sources(join(ROOT, 'protocol', 'src'))) {
      for (const spec of importsOf(file))
        expect(resolve(dirname(file), spec).startsWith(join(ROOT, 'src')), `${relative(ROOT, file)} imports ${spec}`).toBe(false);
    }
  });
});
