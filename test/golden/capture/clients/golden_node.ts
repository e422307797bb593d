/**
 * Golden-traffic client for node-zookeeper-client 1.x, run by capture.ts.
 *
 * This library is old-school in ways a proxy must tolerate, which is why it is captured at all:
 * its ConnectRequest has no trailing readOnly byte (3.3 layout), getChildren always uses
 * getChildren2 (12), and after a reconnect it replays watches with setWatches (101) queued
 * behind its auth replay. (It builds that packet with xid -8 but overwrites the xid with an
 * ordinary one when sending, as Java clients since 3.4.4 do.)
 *
 * Environment and control protocol: see GoldenJava.java.
 */
import { createInterface } from 'node:readline';
import zookeeper from 'node-zookeeper-client';

const ROOT = '/golden-node';
const SESSION_TIMEOUT_MS = 4000;
const WAIT_MS = 20_000;

type Client = zookeeper.Client;
type ZkEvent = zookeeper.Event;

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function step(message: string): void {
  console.log(message);
}

async function control(command: string): Promise<void> {
  console.log(`@@golden ${command}`);
  const answer = await stdinLines.next();
  if (answer.done || !answer.value.startsWith('ok')) throw new Error(`control ${command} -> ${answer.value}`);
}

/** Wraps a node-style callback API call in a promise that rejects with the library's Exception. */
function call<T>(invoke: (callback: (error: unknown, result: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((error, result) => (error ? reject(error) : resolve(result))));
}

async function expectError(code: number, promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof zookeeper.Exception && error.getCode() === code) {
      step(`  ${error.getName()} as expected`);
      return;
    }
    throw error;
  }
  throw new Error(`expected error ${code}, the call succeeded`);
}

/** One-shot watcher callbacks push here; steps wait for the event they caused. */
class Events {
  readonly #seen: ZkEvent[] = [];
  #wake: (() => void) | undefined;

  readonly watcher = (event: ZkEvent): void => {
    this.#seen.push(event);
    this.#wake?.();
  };

  async expect(type: number, path: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const index = this.#seen.findIndex((event) => event.getType() === type && event.getPath() === path);
      if (index >= 0) {
        step(`  event ${this.#seen[index]!.getName()} ${path}`);
        this.#seen.splice(index, 1);
        return;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for event ${type} ${path}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  }
}

function waitForState(client: Client, wanted: zookeeper.State): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${wanted.getName()}`)), WAIT_MS);
    const onState = (state: zookeeper.State) => {
      if (state.getCode() !== wanted.getCode()) return;
      clearTimeout(timer);
      client.removeListener('state', onState);
      step(`  state ${state.getName()}`);
      resolve();
    };
    client.on('state', onState);
  });
}

const { Event, Exception, CreateMode, ACL, Id, Permission, State } = zookeeper;
const data = (text: string) => Buffer.from(text, 'utf8');

async function crud(zk: Client, events: Events): Promise<void> {
  step('create / exists / getData / setData / getChildren / remove, with watches');
  await call<string>((cb) => zk.create(ROOT, data('node'), cb));
  const a = `${ROOT}/a`;
  const missing = await call<zookeeper.Stat | null>((cb) => zk.exists(a, events.watcher, cb));
  if (missing) throw new Error('exists(a) should be null');
  await call<string>((cb) => zk.create(a, data('v1'), cb));
  await events.expect(Event.NODE_CREATED, a);

  await expectError(
    Exception.NODE_EXISTS,
    call<string>((cb) => zk.create(a, null, cb)),
  );
  await expectError(
    Exception.NO_NODE,
    call<string>((cb) => zk.create(`${ROOT}/no-parent/child`, null, cb)),
  );
  await call<string>((cb) => zk.create(`${ROOT}/eph`, null, CreateMode.EPHEMERAL, cb));
  await call<string>((cb) => zk.create(`${ROOT}/eseq-`, null, CreateMode.EPHEMERAL_SEQUENTIAL, cb));
  await call<string>((cb) => zk.create(`${ROOT}/pseq-`, null, CreateMode.PERSISTENT_SEQUENTIAL, cb));
  await call<string>((cb) => zk.mkdirp(`${ROOT}/deep/er/path`, cb));

  const stat = await new Promise<zookeeper.Stat>((resolve, reject) =>
    zk.getData(a, events.watcher, (error, _value, s) => (error ? reject(error) : resolve(s))),
  );
  await call<zookeeper.Stat>((cb) => zk.setData(a, data('v2'), stat.version, cb));
  await events.expect(Event.NODE_DATA_CHANGED, a);
  await expectError(
    Exception.BAD_VERSION,
    call<zookeeper.Stat>((cb) => zk.setData(a, data('v3'), 0, cb)),
  );

  await new Promise<void>((resolve, reject) => zk.getChildren(ROOT, events.watcher, (error) => (error ? reject(error) : resolve())));
  await call<string>((cb) => zk.create(`${ROOT}/c1`, null, cb));
  await events.expect(Event.NODE_CHILDREN_CHANGED, ROOT);

  await call<zookeeper.Stat | null>((cb) => zk.exists(`${ROOT}/c1`, events.watcher, cb));
  await expectError(
    Exception.BAD_VERSION,
    call<void>((cb) => zk.remove(`${ROOT}/c1`, 9, cb)),
  );
  await call<void>((cb) => zk.remove(`${ROOT}/c1`, -1, cb));
  await events.expect(Event.NODE_DELETED, `${ROOT}/c1`);
  await expectError(
    Exception.NOT_EMPTY,
    call<void>((cb) => zk.remove(`${ROOT}/deep`, -1, cb)),
  );
  await expectError(
    Exception.NO_NODE,
    call<void>((cb) => zk.remove(`${ROOT}/c1`, -1, cb)),
  );
}

async function acls(zk: Client): Promise<void> {
  step('getACL / setACL / digest auth / NO_AUTH');
  const target = `${ROOT}/acl-target`;
  await call<string>((cb) => zk.create(target, data('x'), cb));
  await new Promise<void>((resolve, reject) => zk.getACL(target, (error) => (error ? reject(error) : resolve())));
  await call<zookeeper.Stat>((cb) => zk.setACL(target, ACL.READ_ACL_UNSAFE, cb));
  // NO_AUTH comes from a node created with a restrictive ACL, not from a write right after
  // setACL: the 3.8 leader may still judge that write by the old ACL (see GoldenJava.java).

  // digest:golden:<base64 sha1("golden:golden-secret")>, the same identity the other clients use.
  const { createHash } = await import('node:crypto');
  const digest = createHash('sha1').update('golden:golden-secret').digest('base64');
  const secret = `${ROOT}/secret`;
  await call<string>((cb) => zk.create(secret, data('classified'), [new ACL(Permission.ALL, new Id('digest', `golden:${digest}`))], cb));
  const getSecret = () => new Promise<void>((resolve, reject) => zk.getData(secret, (error) => (error ? reject(error) : resolve())));
  await expectError(Exception.NO_AUTH, getSecret());
  await expectError(
    Exception.NO_AUTH,
    call<zookeeper.Stat>((cb) => zk.setData(secret, data('nope'), cb)),
  );
  zk.addAuthInfo('digest', data('golden:golden-secret'));
  await getSecret();
}

async function transactions(zk: Client): Promise<void> {
  step('transaction success and failure (multi 14)');
  await call((cb) =>
    zk
      .transaction()
      .create(`${ROOT}/t`, data('t'))
      .setData(`${ROOT}/t`, data('t2'), 0)
      .check(`${ROOT}/t`, 1)
      .create(`${ROOT}/t/child`)
      .remove(`${ROOT}/t/child`)
      .commit(cb),
  );
  await expectError(
    Exception.BAD_VERSION,
    call((cb) => zk.transaction().create(`${ROOT}/t-rolled-back`).check(`${ROOT}/t`, 99).remove(`${ROOT}/t`).commit(cb)),
  );
}

async function reconnect(zk: Client, events: Events): Promise<void> {
  step('forced reconnect while watches are registered -> setWatches (101)');
  const a = `${ROOT}/a`;
  const later = `${ROOT}/later`;
  await new Promise<void>((resolve, reject) => zk.getData(a, events.watcher, (error) => (error ? reject(error) : resolve())));
  await call((cb) => zk.exists(later, events.watcher, cb));

  const disconnected = waitForState(zk, State.DISCONNECTED);
  await control('drop-and-hold');
  await disconnected;
  // Change the watched nodes behind the client's back, through a session that bypasses the relay.
  const direct = zookeeper.createClient(process.env['GOLDEN_DIRECT']!, { sessionTimeout: 10_000 });
  const directUp = waitForState(direct, State.SYNC_CONNECTED);
  direct.connect();
  await directUp;
  await call<zookeeper.Stat>((cb) => direct.setData(a, data('changed while away'), cb));
  await call<string>((cb) => direct.create(later, null, cb));
  direct.close();

  const reconnected = waitForState(zk, State.SYNC_CONNECTED);
  await control('release');
  await reconnected;
  await events.expect(Event.NODE_DATA_CHANGED, a);
  await events.expect(Event.NODE_CREATED, later);
}

async function main(): Promise<void> {
  const zk = zookeeper.createClient(process.env['GOLDEN_CONNECT']!, {
    sessionTimeout: SESSION_TIMEOUT_MS,
    spinDelay: 100,
  });
  const connected = waitForState(zk, State.SYNC_CONNECTED);
  zk.connect();
  await connected;

  const events = new Events();
  await crud(zk, events);
  await acls(zk);
  await transactions(zk);

  step('idle so the client pings');
  await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS));

  await reconnect(zk, events);

  step('close (closeSession)');
  const closed = waitForState(zk, State.DISCONNECTED);
  zk.close();
  await closed;
  step('done');
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
