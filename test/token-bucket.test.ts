import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/limits/token-bucket.ts';

describe('TokenBucket', () => {
  it('allows a burst, then exactly `rate` tokens per second', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 10, () => now);
    let taken = 0;
    while (bucket.tryTake()) taken++;
    expect(taken).toBe(10);
    expect(bucket.msUntilToken()).toBeCloseTo(10, 5);
    now += 1000;
    taken = 0;
    while (bucket.tryTake()) taken++;
    expect(taken).toBe(10); // capped by burst, not 100
    now += 50;
    taken = 0;
    while (bucket.tryTake()) taken++;
    expect(taken).toBe(5);
  });

  it('an infinite rate never throttles', () => {
    const bucket = new TokenBucket(Infinity, 1, () => 0);
    for (let i = 0; i < 10_000; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.msUntilToken()).toBe(0);
  });

  it('reconfigure keeps saved tokens up to the new burst', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 100, () => now);
    bucket.reconfigure(1000, 5);
    let taken = 0;
    while (bucket.tryTake()) taken++;
    expect(taken).toBe(5);
    now += 2;
    expect(bucket.tryTake()).toBe(true);
  });
});
