/**
 * Codec micro-benchmark (not a test): what the proxy does per getData round trip, in frames/s.
 *   node bench/codec.ts [--seconds 1] [--rounds 5]
 * Prints the median of several rounds per case, as a Markdown table.
 */
import { parseArgs } from 'node:util';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  FrameReader,
  mapPaths,
  OpCode,
  REJECT,
  validatePath,
  type PathMapper,
} from 'jute-ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '0.5' }, rounds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

const chroot = '/tenants/bench';
const toServer: PathMapper = (p) => (p === null || validatePath(p) !== undefined ? REJECT : p === '/' ? chroot : chroot + p);
const toClient: PathMapper = (p) => (p === null ? p : p === chroot ? '/' : p.slice(chroot.length));

const stat = {
  czxid: 1n,
  mzxid: 2n,
  ctime: 3n,
  mtime: 4n,
  version: 5,
  cversion: 6,
  aversion: 7,
  ephemeralOwner: 0n,
  dataLength: 100,
  numChildren: 0,
  pzxid: 11n,
};
const request = encodeRequest({ xid: 42, opcode: OpCode.getData, body: { path: '/flink/cluster/leader/latch', watch: true } });
const reply = encodeReply({ xid: 42, zxid: 0x100000005n, err: 0, body: { data: Buffer.alloc(100, 7), stat } }, OpCode.getData);
const createReply = encodeReply({ xid: 43, zxid: 0x100000006n, err: 0, body: { path: `${chroot}/flink/x0000000001` } }, OpCode.create);
const stream = Buffer.concat(Array.from({ length: 64 }, () => reply));

const cases: [string, () => unknown][] = [
  ['getData request: map paths into chroot', () => mapPaths(request, { direction: 'request' }, toServer)],
  ['getData reply: map paths (none, same buffer)', () => mapPaths(reply, { direction: 'reply', opcode: OpCode.getData }, toClient)],
  ['create reply: map path out of chroot', () => mapPaths(createReply, { direction: 'reply', opcode: OpCode.create }, toClient)],
  ['getData request: decode + encode', () => encodeRequest(decodeRequest(request))],
  ['getData reply: decode + encode', () => encodeReply(decodeReply(reply, OpCode.getData), OpCode.getData)],
  [
    'round trip: decode req + map + encode, decode reply + map + encode',
    () => {
      encodeRequest(decodeRequest(mapPaths(request, { direction: 'request' }, toServer) as Buffer));
      encodeReply(
        decodeReply(mapPaths(reply, { direction: 'reply', opcode: OpCode.getData }, toClient) as Buffer, OpCode.getData),
        OpCode.getData,
      );
    },
  ],
];

function framesPerSecond(fn: () => unknown): number {
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  let start = performance.now();
  // Warm-up so the JIT has settled before we count.
  for (let i = 0; i < 20_000; i++) fn();
  start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
  }
  return n / ((performance.now() - start) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

console.log(`Node ${process.version}, ${rounds} rounds x ${seconds}s, median frames/s\n`);
console.log('| case | frames/s | ns/frame |');
console.log('|---|---:|---:|');
for (const [name, fn] of cases) {
  const results: number[] = [];
  for (let r = 0; r < rounds; r++) results.push(framesPerSecond(fn));
  const m = median(results);
  console.log(`| ${name} | ${fmt(m)} | ${(1e9 / m).toFixed(0)} |`);
}
const splitter = () => new FrameReader().push(stream, () => {});
const splitRate = median(Array.from({ length: rounds }, () => framesPerSecond(splitter))) * 64;
console.log(`| FrameReader: split a 64-frame chunk of getData replies | ${fmt(splitRate)} | ${(1e9 / splitRate).toFixed(0)} |`);
