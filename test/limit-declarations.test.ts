import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, layeredLimits, LIMITS, LimitsSchema, shareOf, type LimitName } from '../src/limits/limits.ts';

const names = Object.keys(LIMITS) as LimitName[];

describe('limits are declared once', () => {
  it('the schema, the defaults and the declarations name the same limits', () => {
    expect(Object.keys(LimitsSchema.shape).sort()).toEqual([...names].sort());
    expect(Object.keys(DEFAULT_LIMITS).sort()).toEqual([...names].sort());
    for (const name of names) expect(LimitsSchema.parse({ [name]: LIMITS[name].default })).toEqual({ [name]: LIMITS[name].default });
    expect(LimitsSchema.safeParse({ maxWidgets: 1 }).success).toBe(false);
  });

  it('each of n workers enforces 1/n of a divided limit (rounded up, 0 stays unlimited) and all of a whole one', () => {
    const limits = { ...DEFAULT_LIMITS, maxConnections: 5, requestsPerSecond: 0, maxWatches: 1 };
    const share = shareOf(limits, 2);
    for (const name of names) {
      const expected = LIMITS[name].workers === 'whole' || limits[name] === 0 ? limits[name] : Math.max(1, Math.ceil(limits[name] / 2));
      expect(share[name], name).toBe(expected);
    }
    expect([share.maxConnections, share.requestsPerSecond, share.maxWatches, share.maxZnodes]).toEqual([3, 0, 1, limits.maxZnodes]);
  });

  it('layers overrides over the defaults, key by key, skipping keys left undefined', () => {
    expect(layeredLimits({ burst: 5 }, { burst: undefined, maxWatches: 7 })).toEqual({ ...DEFAULT_LIMITS, burst: 5, maxWatches: 7 });
  });

  it('the documentation (README.md and docs/) names every limit by its key', () => {
    const root = join(import.meta.dirname, '..');
    const docs = existsSync(join(root, 'docs'))
      ? readdirSync(join(root, 'docs'))
          .filter((f) => f.endsWith('.md'))
          .map((f) => join(root, 'docs', f))
      : [];
    const readme = [join(root, 'README.md'), ...docs].map((file) => readFileSync(file, 'utf8')).join('\n');
    for (const name of names) expect(readme, name).toContain(`\`${name}\``);
  });
});
