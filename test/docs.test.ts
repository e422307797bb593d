/**
 * The documentation holds together: README.md stays a page a newcomer reads in five minutes (what
 * it is, the two set-up commands, the tour, links to docs/), every page in docs/ is linked from
 * it, and every relative link and #anchor in README.md, CONTRIBUTING.md and docs/*.md points at
 * something that exists.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..');
const DOCS = join(REPO, 'docs');
const docPages = readdirSync(DOCS)
  .filter((f) => f.endsWith('.md'))
  .map((f) => join('docs', f));
const pages = ['README.md', 'CONTRIBUTING.md', ...docPages];
const read = (page: string) => readFileSync(join(REPO, page), 'utf8');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const match of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    found.add(
      match[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return found;
}

/** Markdown links outside code: [text](target); fenced blocks and inline code are skipped. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '``');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z]+:/.test(target));
}

describe('README.md', () => {
  const readme = read('README.md');

  it('keeps exactly the two set-up commands, ./zkp dev and ./zkp test', () => {
    const setUp = /^## Set up\n([\s\S]*?)^## /m.exec(readme)![1]!;
    expect([...setUp.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim())).toEqual(['./zkp dev', './zkp test']);
  });

  it('is short: what it is, set-up, a 5-minute tour, the documentation index', () => {
    expect([...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1])).toEqual(['Set up', 'A 5-minute tour', 'Documentation']);
    expect(readme.split('\n').length).toBeLessThan(150);
  });

  it('links every page in docs/', () => {
    const linked = new Set(links(readme).map((target) => target.split('#')[0]));
    for (const page of docPages) expect(linked, page).toContain(page);
  });
});

describe.each(pages)('%s', (page) => {
  it('every relative link and anchor points at something that exists', () => {
    const text = read(page);
    const broken: string[] = [];
    for (const target of links(text)) {
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path === '' ? join(REPO, page) : resolve(dirname(join(REPO, page)), path);
      if (!existsSync(file)) broken.push(`${target}: no such file`);
      else if (anchor !== undefined && !(statSync(file).isFile() && anchors(readFileSync(file, 'utf8')).has(anchor)))
        broken.push(`${target}: no such heading`);
    }
    expect(broken).toEqual([]);
  });
});
