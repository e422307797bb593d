/** Ports one ensemble member listens on, all bound to the same loopback host. */
export interface MemberAddress {
  id: number;
  host: string;
  clientPort: number;
  quorumPort: number;
  electionPort: number;
}

export interface ServerConfigInput {
  self: MemberAddress;
  /** Every member including `self`; a single member means standalone mode. */
  ensemble: readonly MemberAddress[];
  dataDir: string;
  tickTime: number;
  maxClientCnxns: number;
  fourLetterWords: readonly string[];
  reconfigEnabled: boolean;
  /** Appended last; a key given here replaces the fixture's value for that key. */
  extra: Readonly<Record<string, string>>;
}

/** Renders the zoo.cfg of one member. */
export function renderServerConfig(input: ServerConfigInput): string {
  const settings = new Map<string, string>([
    ['tickTime', String(input.tickTime)],
    // Short limits make a dead leader or follower noticed within seconds; loopback peers sync fast.
    ['initLimit', '5'],
    ['syncLimit', '2'],
    ['dataDir', input.dataDir],
    ['maxClientCnxns', String(input.maxClientCnxns)],
    ['4lw.commands.whitelist', input.fourLetterWords.join(',')],
    // The AdminServer would bind 8080 on every member; the fixture talks 4lw instead.
    ['admin.enableServer', 'false'],
    ['reconfigEnabled', String(input.reconfigEnabled)],
    // Test data is disposable: skip fsync, and do not pre-allocate 64 MB transaction logs.
    ['forceSync', 'no'],
    ['preAllocSize', '1024'],
    ['autopurge.purgeInterval', '0'],
  ]);

  const standalone = input.ensemble.length === 1;
  if (standalone) {
    settings.set('clientPortAddress', input.self.host);
    settings.set('clientPort', String(input.self.clientPort));
  } else {
    settings.set('standaloneEnabled', 'false');
    for (const peer of input.ensemble) {
      // server.N=host:quorum:election;clientHost:clientPort — the 3.5+ form that also carries the
      // client address, which reconfig needs and which spares a separate clientPort line.
      settings.set(`server.${peer.id}`, `${peer.host}:${peer.quorumPort}:${peer.electionPort};${peer.host}:${peer.clientPort}`);
    }
  }

  for (const [key, value] of Object.entries(input.extra)) settings.set(key, value);

  return [...settings].map(([key, value]) => `${key}=${value}`).join('\n') + '\n';
}
