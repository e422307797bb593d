import { describe, expect, it } from 'vitest';
import { encodeRequest, ErrorCode, EventType, OpCode, WatcherType } from 'jute-ts';
import { WatchLedger } from '../src/limits/watch-ledger.ts';

function ledger() {
  let count = 0;
  const l = new WatchLedger((delta) => (count += delta));
  return { l, count: () => count };
}
const req = (opcode: number, body: Record<string, unknown>) => encodeRequest({ xid: 1, opcode, body });

describe('WatchLedger', () => {
  it('counts one-shot watches once per path and table, and forgets them when they fire', () => {
    const { l, count } = ledger();
    const get = req(OpCode.getData, { path: '/t/a/x', watch: true });
    l.add(l.wouldAdd(OpCode.getData, get));
    expect(l.wouldAdd(OpCode.exists, req(OpCode.exists, { path: '/t/a/x', watch: true }))).toEqual([]); // same data table
    l.add(l.wouldAdd(OpCode.getChildren, req(OpCode.getChildren, { path: '/t/a/x', watch: true })));
    expect(count()).toBe(2);
    l.fired(EventType.NodeDataChanged, '/t/a/x');
    expect(count()).toBe(1);
    l.fired(EventType.NodeDeleted, '/t/a/x');
    expect(count()).toBe(0);
  });

  it('requests without a watch flag register nothing and are not decoded', () => {
    const { l } = ledger();
    expect(l.wouldAdd(OpCode.getData, req(OpCode.getData, { path: '/x', watch: false }))).toEqual([]);
    expect(l.wouldAdd(OpCode.setData, req(OpCode.setData, { path: '/x', data: null, version: -1 }))).toEqual([]);
  });

  it('undoes a registration the reply says did not happen, except exists on a missing node', () => {
    const { l, count } = ledger();
    const keys = l.wouldAdd(OpCode.getData, req(OpCode.getData, { path: '/missing', watch: true }));
    l.add(keys);
    l.settle(OpCode.getData, ErrorCode.NONODE, keys);
    expect(count()).toBe(0);
    const existsKeys = l.wouldAdd(OpCode.exists, req(OpCode.exists, { path: '/missing', watch: true }));
    l.add(existsKeys);
    l.settle(OpCode.exists, ErrorCode.NONODE, existsKeys);
    expect(count()).toBe(1);
  });

  it('persistent and recursive watches survive events and go with removeWatches or the connection', () => {
    const { l, count } = ledger();
    l.add(l.wouldAdd(OpCode.addWatch, req(OpCode.addWatch, { path: '/p', mode: 0 })));
    l.add(l.wouldAdd(OpCode.addWatch, req(OpCode.addWatch, { path: '/r', mode: 1 })));
    l.fired(EventType.NodeDataChanged, '/p');
    l.fired(EventType.NodeCreated, '/r/child');
    expect(count()).toBe(2);
    l.removed(WatcherType.Any, '/p');
    expect(count()).toBe(1);
    l.clear();
    expect(count()).toBe(0);
  });

  it('setWatches and setWatches2 register every listed path in its table', () => {
    const { l, count } = ledger();
    const frame = req(OpCode.setWatches2, {
      relativeZxid: 1n,
      dataWatches: ['/a', '/b'],
      existWatches: ['/a'],
      childWatches: ['/a'],
      persistentWatches: ['/p'],
      persistentRecursiveWatches: ['/r'],
    });
    l.add(l.wouldAdd(OpCode.setWatches2, frame));
    expect(count()).toBe(5);
  });
});
