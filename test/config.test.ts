import { readFileSync } from 'node:fs';
// Configuration is validated as a whole before anything listens, with messages naming the key;
// the CLI exits 2 on bad configuration.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConfigSchema,
  DEFAULT_LIMITS,
  ensembleAdmin,
  ensembleOfTenant,
  ensemblesOf,
  validateConfig,
} from '../src/config/config.ts';
import { loadConfig, readConfigFile } from '../src/config/load.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'zkproxy-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  ensemble: 'zk1:2181,zk2:2181',
  security: { secret: 'a-secret-of-16-chars' },
  tenants: [{ name: 'acme', listeners: ['0.0.0.0:7451'] }],
};
const problems = (raw: unknown): string => {
  try {
    validateConfig(raw);
    return '';
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
};

describe('configuration validation', () => {
  it('fills defaults: chroot, admin listener, drain, frame size, handshake timeout', () => {
    const config = validateConfig(base);
    expect(config.ensemble).toEqual([
      { host: 'zk1', port: 2181 },
      { host: 'zk2', port: 2181 },
    ]);
    expect(config.admin.listen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(config).toMatchObject({ drain: { periodMs: 10_000 }, maxFrameBytes: 1_049_599, client: { handshakeTimeoutMs: 10_000 } });
  });

  it('deploy/proxy.example.yaml is valid, names every top-level key, and states the real defaults', () => {
    const file = join(import.meta.dirname, '..', 'deploy', 'proxy.example.yaml');
    const raw = readConfigFile(file);
    const example = validateConfig(raw);
    const defaults = validateConfig(base);
    // `ensemble` and `ensembles` are alternatives: the example uses the first and shows the second in a comment.
    expect(Object.keys(raw).sort()).toEqual(
      Object.keys(ConfigSchema.shape)
        .filter((key) => key !== 'ensembles')
        .sort(),
    );
    expect(readFileSync(file, 'utf8')).toMatch(/^# ensembles:/m);
    expect(raw.limits).toEqual(DEFAULT_LIMITS);
    for (const key of [
      'total',
      'backend',
      'client',
      'drain',
      'maxFrameBytes',
      'ensembleMaxFrameBytes',
      'moveHoldMaxMs',
      'log',
      'tlsListeners',
    ] as const)
      expect(example[key], key).toEqual(defaults[key]);
    expect(example.security.allowSasl).toBe(defaults.security.allowSasl);
  });

  it('names unknown tenant fields and unknown top-level keys', () => {
    const message = problems({ ...base, colour: 'blue', tenants: [{ name: 'acme', listeners: ['0.0.0.0:7451'], quota: 5 }] });
    expect(message).toContain('Unrecognized key');
    expect(message).toMatch(/tenants\[0\].*quota|quota/);
    expect(message).toContain('colour');
  });

  it('refuses duplicate and clashing listeners, naming both tenants', () => {
    const message = problems({
      ...base,
      tenants: [
        { name: 'acme', listeners: ['0.0.0.0:7451'] },
        { name: 'globex', listeners: ['127.0.0.1:7451'] },
      ],
    });
    expect(message).toContain('tenants[1].listeners[0]: listener 127.0.0.1:7451 clashes with 0.0.0.0:7451 of tenant "acme"');
  });

  it('refuses bad ensemble strings: chroot suffix, bad port, a member listed twice', () => {
    expect(problems({ ...base, ensemble: 'zk1:2181/chroot' })).toContain('must not carry a chroot suffix');
    expect(problems({ ...base, ensemble: 'zk1:99999' })).toContain('port 99999');
    expect(problems({ ...base, ensemble: 'zk1' })).toContain('"zk1" is not host:port');
    expect(problems({ ...base, ensemble: 'zk1:2181,zk1:2181' })).toContain('lists a member twice');
  });

  it('refuses overlapping chroots and invalid ones, and duplicate tenant names', () => {
    expect(
      problems({
        ...base,
        tenants: [
          { name: 'a', listeners: ['0.0.0.0:1'] },
          { name: 'b', chroot: '/tenants/a/b', listeners: ['0.0.0.0:2'] },
        ],
      }),
    ).toContain('tenants[1].chroot: chroot /tenants/a/b overlaps /tenants/a of tenant "a"');
    // Prefix but not a path ancestor: allowed (segment-correct).
    expect(
      problems({
        ...base,
        tenants: [
          { name: 'a', listeners: ['0.0.0.0:1'] },
          { name: 'ab', chroot: '/tenants/ab', listeners: ['0.0.0.0:2'] },
        ],
      }),
    ).toBe('');
    expect(problems({ ...base, tenants: [{ name: 'a', chroot: '/', listeners: ['0.0.0.0:1'] }] })).toContain('chroot must not be /');
    expect(problems({ ...base, tenants: [{ name: 'a', chroot: '/t/../x', listeners: ['0.0.0.0:1'] }] })).toContain(
      'relative paths not allowed',
    );
    expect(
      problems({
        ...base,
        tenants: [
          { name: 'a', listeners: ['0.0.0.0:1'] },
          { name: 'a', chroot: '/x', listeners: ['0.0.0.0:2'] },
        ],
      }),
    ).toContain('duplicate tenant name "a"');
    expect(problems({ ...base, tenants: [{ name: 'Not_DNS', listeners: ['0.0.0.0:1'] }] })).toContain('DNS label');
  });

  it('reads the ensemble admin from security.ensembleAdminFile, and names the file when it is unreadable or malformed', () => {
    const file = join(dir, 'ensemble-admin');
    writeFileSync(file, 'platform-admin:s3cret\n');
    expect(ensembleAdmin(validateConfig({ ...base, security: { ...base.security, ensembleAdminFile: file } }))).toEqual({
      user: 'platform-admin',
      password: 's3cret',
    });
    writeFileSync(file, 'no-colon-here');
    expect(() => ensembleAdmin(validateConfig({ ...base, security: { ...base.security, ensembleAdminFile: file } }))).toThrow(
      `security.ensembleAdminFile ${file}: the file must hold "user:password"`,
    );
    const missing = join(dir, 'missing-admin');
    expect(() => ensembleAdmin(validateConfig({ ...base, security: { ...base.security, ensembleAdminFile: missing } }))).toThrow(
      `security.ensembleAdminFile ${missing}: ENOENT`,
    );
  });

  it('merges a YAML file with flags: --ensemble overrides, --tenant adds tenants or listeners', () => {
    const file = join(dir, 'proxy.yaml');
    writeFileSync(
      file,
      'ensemble: zk9:2181\nsecurity: { secret: a-secret-of-16-chars }\ntenants:\n  - name: acme\n    listeners: ["0.0.0.0:7451"]\n',
    );
    const config = loadConfig({ config: file, ensemble: 'zk1:2181', tenant: ['acme=0.0.0.0:7452', 'globex=0.0.0.0:7453'] });
    expect(config.ensemble).toEqual([{ host: 'zk1', port: 2181 }]);
    expect(config.tenants.map((t) => [t.name, t.listeners.map((l) => l.port)])).toEqual([
      ['acme', [7451, 7452]],
      ['globex', [7453]],
    ]);
  });
});

describe('several ensembles', () => {
  const { ensemble: _, ...noEnsemble } = base;
  const two = { east: { members: 'zk1.east:2181' }, west: { members: 'zk1.west:2181', ensembleAdmin: 'west-admin:pw' } };

  it('takes either ensemble or ensembles, never both and never neither', () => {
    expect(problems({ ...base, ensembles: two })).toContain('ensemble: name the shared ensemble: either ensemble');
    expect(problems(noEnsemble)).toContain('ensemble: name the shared ensemble: either ensemble');
    expect(problems({ ...noEnsemble, ensembles: {} })).toContain('name at least one ensemble');
  });

  it('refuses a tenant on an unknown ensemble, naming the configured ones', () => {
    const message = problems({
      ...noEnsemble,
      ensembles: two,
      tenants: [{ name: 'acme', listeners: ['0.0.0.0:7451'], ensemble: 'north' }],
    });
    expect(message).toContain('tenants[0].ensemble: unknown ensemble "north" (configured: east, west)');
    // With the one-ensemble form the only name is "default".
    expect(problems({ ...base, tenants: [{ name: 'acme', listeners: ['0.0.0.0:7451'], ensemble: 'east' }] })).toContain(
      'unknown ensemble "east" (configured: default)',
    );
  });

  it('defaults a tenant to the first ensemble, and an ensemble admin to the platform one', () => {
    const config = validateConfig({
      ...noEnsemble,
      security: { ...base.security, ensembleAdmin: 'platform:pw' },
      ensembles: two,
      tenants: [
        { name: 'acme', listeners: ['0.0.0.0:7451'] },
        { name: 'globex', listeners: ['0.0.0.0:7452'], ensemble: 'west', hold: true },
      ],
    });
    expect(ensemblesOf(config).map((e) => e.name)).toEqual(['east', 'west']);
    expect(config.tenants.map((t) => ensembleOfTenant(config, t))).toEqual(['east', 'west']);
    expect(config.tenants[1]!.hold).toBe(true);
    expect(ensembleAdmin(config, 'east')).toEqual({ user: 'platform', password: 'pw' });
    expect(ensembleAdmin(config, 'west')).toEqual({ user: 'west-admin', password: 'pw' });
    expect(config.moveHoldMaxMs).toBe(10_000);
  });

  it('refuses a replicas path inside a tenant chroot, and a bad moveHoldMaxMs', () => {
    expect(validateConfig({ ...base, registry: { path: '/zkproxy/registry' } }).registry.replicasPath).toBe('/zkproxy/replicas');
    expect(problems({ ...base, registry: { path: '/zkproxy/registry', replicasPath: '/tenants/acme/replicas' } })).toContain(
      'registry.replicasPath: /tenants/acme/replicas overlaps the chroot /tenants/acme of tenant "acme"',
    );
    expect(problems({ ...base, registry: { path: '/zkproxy/registry', replicasPath: 'relative' } })).toContain('registry.replicasPath');
    expect(problems({ ...base, moveHoldMaxMs: 0 })).toContain('moveHoldMaxMs');
  });
});

describe('the serve command', () => {
  const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');

  it('exits 2 with every problem listed when the configuration is invalid', async () => {
    const failure = await run(process.execPath, [cli, 'serve', '--ensemble', 'zk1:2181/x', '--tenant', 'Bad=0.0.0.0:70000']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect('code' in failure && failure.code).toBe(2);
    const stderr = (failure as { stderr: string }).stderr;
    expect(stderr).toContain('ensemble: ensemble "zk1:2181/x" must not carry a chroot suffix');
    expect(stderr).toContain('tenants[0].name');
    expect(stderr).toContain('tenants[0].listeners[0]: port 70000');
  });

  it('takes the secret from ZKPROXY_SECRET, and refuses it as a flag', async () => {
    const viaEnv = await run(process.execPath, [cli, 'serve', '--ensemble', 'zk1:1/x', '--tenant', 'acme=0.0.0.0:7451'], {
      env: { ...process.env, ZKPROXY_SECRET: 'a-secret-of-16-chars' },
    }).catch((error: { code: number; stderr: string }) => error);
    // Only the deliberate ensemble error: the secret was accepted from the environment.
    expect((viaEnv as { stderr: string }).stderr).not.toContain('secret');
    expect((viaEnv as { stderr: string }).stderr).toContain('must not carry a chroot suffix');
    const viaFlag = await run(process.execPath, [cli, 'serve', '--secret', 'a-secret-of-16-chars']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect((viaFlag as { code: number }).code).toBe(2);
    expect((viaFlag as { stderr: string }).stderr).toContain('never as a flag');
  });

  it('reads ZKPROXY_* environment variables like flags', async () => {
    const failure = await run(process.execPath, [cli, 'serve', '--tenant', 'acme=0.0.0.0:7451'], {
      env: { ...process.env, ZKPROXY_ENSEMBLE: 'zk1:1/oops' },
    }).catch((error: { code: number; stderr: string }) => error);
    expect((failure as { stderr: string }).stderr).toContain('"zk1:1/oops" must not carry a chroot suffix');
  });
});
