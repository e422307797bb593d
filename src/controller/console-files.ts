/**
 * The console's files (src/console/: plain ES modules and CSS, no build step, nothing from a CDN),
 * served by the controller's HTTP listener under /console/. A fixed allow-list read at start: no
 * path from a request ever reaches the file system. The Content-Security-Policy admits only these
 * files and requests to this origin, so an injected string cannot run or send anything.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';

const DIRECTORY = join(import.meta.dirname, '..', 'console');
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export class ConsoleFiles {
  private readonly files = new Map<string, { type: string; body: Buffer }>();

  constructor(directory = DIRECTORY) {
    for (const [name, type] of Object.entries(FILES)) this.files.set(name, { type, body: readFileSync(join(directory, name)) });
  }

  /** Answers GET / (redirect) and GET /console/<file>; false for every other path. */
  serve(pathname: string, res: ServerResponse): boolean {
    if (pathname === '/' || pathname === '/console') {
      res.writeHead(302, { location: '/console/', ...SECURITY_HEADERS });
      res.end();
      return true;
    }
    if (!pathname.startsWith('/console/')) return false;
    const file = this.files.get(pathname === '/console/' ? 'index.html' : pathname.slice('/console/'.length));
    if (file === undefined) return false;
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, ...SECURITY_HEADERS });
    res.end(file.body);
    return true;
  }
}
