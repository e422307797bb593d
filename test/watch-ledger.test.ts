import { describe, expect, it } from 'vitest';
import { encodeRequest, ErrorCode, EventType, mapFields, OpCode, WatcherType } from 'jute-ts';
import { WatchLedger } from '../src/limits/watch-ledger.ts';
import { opPolicy } from '../src/session/op-policy.ts';

function ledger() {
  let count = 0;
  const l = new WatchLedger((delta) => (count += delta));
  return { l, count: () => count };
}

/** A request as the pipeline hands it over: the frame and the server paths its mapper saw. */
function request(opcode: number, body: Record<string, unknown>) {
  const frame = encodeRequest({ xid: 1, opcode, body });
  const paths: string[] = [];
  mapFields(frame, { direction: 'request' }, { path: (path, _flags, field) => (path !== null && paths.push(field, path), path) });
  return { frame, paths, effect: opPolicy(opcode).watches };
}
type Request = ReturnType<typeof request>;
const wouldAdd = (l: WatchLedger, r: Request) => (l.concerns(r.effect, r.frame) ? l.wouldAdd(r.effect, r.frame, r.paths) : []);

describe('WatchLedger', () => {
  it('counts one-shot watches once per path and table, and forgets them when they fire', () => {
    const { l, count } = ledger();
    l.add(wouldAdd(l, request(OpCode.getData, { path: '/t/a/x', watch: true })));
    expect(wouldAdd(l, request(OpCode.exists, { path: '/t/a/x', watch: true }))).toEqual([]); // same data table
    l.add(wouldAdd(l, request(OpCode.getChildren, { path: '/t/a/x', watch: true })));
    expect(count()).toBe(2);
    l.fired(EventType.NodeDataChanged, '/t/a/x');
    expect(count()).toBe(1);
    l.fired(EventType.NodeDeleted, '/t/a/x');
    expect(count()).toBe(0);
  });

  it('requests without a watch flag, and opcodes that set no watches, concern it not', () => {
    const { l } = ledger();
    const unwatched = request(OpCode.getData, { path: '/x', watch: false });
    expect(l.concerns(unwatched.effect, unwatched.frame)).toBe(false);
    const write = request(OpCode.setData, { path: '/x', data: null, version: -1 });
    expect(l.concerns(write.effect, write.frame)).toBe(false);
  });

  it('undoes a registration the reply says did not happen, except exists on a missing node', () => {
    const { l, count } = ledger();
    const keys = wouldAdd(l, request(OpCode.getData, { path: '/missing', watch: true }));
    l.add(keys);
    l.settle(OpCode.getData, ErrorCode.NONODE, keys);
    expect(count()).toBe(0);
    const existsKeys = wouldAdd(l, request(OpCode.exists, { path: '/missing', watch: true }));
    l.add(existsKeys);
    l.settle(OpCode.exists, ErrorCode.NONODE, existsKeys);
    expect(count()).toBe(1);
  });

  it('persistent and recursive watches survive events and go with removeWatches or the connection', () => {
    const { l, count } = ledger();
    l.add(wouldAdd(l, request(OpCode.addWatch, { path: '/p', mode: 0 })));
    l.add(wouldAdd(l, request(OpCode.addWatch, { path: '/r', mode: 1 })));
    l.fired(EventType.NodeDataChanged, '/p');
    l.fired(EventType.NodeCreated, '/r/child');
    expect(count()).toBe(2);
    const remove = request(OpCode.removeWatches, { path: '/p', type: WatcherType.Any });
    expect(l.concerns(remove.effect, remove.frame)).toBe(true);
    const { type, serverPath } = l.removal(remove.frame, remove.paths);
    l.removed(type, serverPath);
    expect(count()).toBe(1);
    l.clear();
    expect(count()).toBe(0);
  });

  it('setWatches and setWatches2 register every listed path in its table', () => {
    const { l, count } = ledger();
    const replay = request(OpCode.setWatches2, {
      relativeZxid: 1n,
      dataWatches: ['/a', '/b'],
      existWatches: ['/a'],
      childWatches: ['/a'],
      persistentWatches: ['/p'],
      persistentRecursiveWatches: ['/r'],
    });
    l.add(wouldAdd(l, replay));
    expect(count()).toBe(5);
  });
});
