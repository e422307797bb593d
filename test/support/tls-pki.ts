/**
 * A throwaway PKI for TLS tests, made with the openssl CLI (and keytool for a Java truststore) in
 * a temp dir: CAs, server and client certificates (P-256 keys: fast to make, and every client
 * here speaks them), PKCS12 keystores for the Java client. Everything runs as asynchronous child
 * processes (see run-process.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectSuccess, runProcess } from './run-process.ts';

/** Password of every PKCS12 file made here. */
export const STORE_PASSWORD = 'changeit';

export interface Issued {
  /** PEM files. */
  cert: string;
  key: string;
}

export interface CertificateSpec {
  /** openssl -subj form, e.g. "/CN=alpha" or "/CN=alpha/CN=beta". */
  subject: string;
  /** subjectAltName entries, one per line of an openssl [alt] section: "DNS.1 = alpha", "URI.1 = ...". */
  altNames?: string[];
  usage: 'server' | 'client';
}

export class TestPki {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static create(): TestPki {
    return new TestPki(mkdtempSync(join(tmpdir(), 'zkp-pki-')));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  private async openssl(args: string[]): Promise<void> {
    expectSuccess(`openssl ${args.join(' ')}`, await runProcess('openssl', args, { cwd: this.dir, timeoutMs: 30_000 }));
  }

  /** A self-signed CA. */
  async ca(name: string): Promise<Issued> {
    const config = this.path(`${name}.cnf`);
    writeFileSync(
      config,
      [
        '[req]',
        'distinguished_name = dn',
        'x509_extensions = ext',
        '[dn]',
        '[ext]',
        'basicConstraints = critical, CA:TRUE',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    const issued = { cert: this.path(`${name}.crt`), key: this.path(`${name}.key`) };
    await this.openssl([
      'req',
      '-x509',
      '-config',
      config,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      issued.key,
      '-out',
      issued.cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ]);
    return issued;
  }

  /** A key and a certificate signed by `ca`. */
  async issue(name: string, ca: Issued, spec: CertificateSpec): Promise<Issued> {
    const requestConfig = this.path(`${name}.req.cnf`);
    writeFileSync(requestConfig, ['[req]', 'distinguished_name = dn', '[dn]', ''].join('\n'));
    const extensions = this.path(`${name}.ext`);
    writeFileSync(
      extensions,
      [
        '[ext]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        `extendedKeyUsage = ${spec.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
        'authorityKeyIdentifier = keyid',
        ...(spec.altNames?.length ? ['subjectAltName = @alt', '[alt]', ...spec.altNames] : []),
        '',
      ].join('\n'),
    );
    const issued = { cert: this.path(`${name}.crt`), key: this.path(`${name}.key`) };
    const csr = this.path(`${name}.csr`);
    await this.openssl([
      'req',
      '-new',
      '-config',
      requestConfig,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      issued.key,
      '-out',
      csr,
      '-subj',
      spec.subject,
    ]);
    await this.openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      `0x${randomBytes(12).toString('hex')}`,
      '-days',
      '2',
      '-extfile',
      extensions,
      '-extensions',
      'ext',
      '-out',
      issued.cert,
    ]);
    return issued;
  }

  /** A PKCS12 keystore holding the key and its certificate chain (for zookeeper.ssl.keyStore.*). */
  async keystore(name: string, issued: Issued, ca: Issued): Promise<string> {
    const file = this.path(`${name}.p12`);
    await this.openssl([
      'pkcs12',
      '-export',
      '-in',
      issued.cert,
      '-inkey',
      issued.key,
      '-certfile',
      ca.cert,
      '-name',
      name,
      '-out',
      file,
      '-passout',
      `pass:${STORE_PASSWORD}`,
    ]);
    return file;
  }

  /** A PKCS12 truststore trusting `ca` (keytool: OpenSSL 3.0 cannot mark a certificate trusted for Java). */
  async truststore(name: string, ca: Issued): Promise<string> {
    const file = this.path(`${name}.p12`);
    const result = await runProcess(
      'keytool',
      [
        '-importcert',
        '-noprompt',
        '-alias',
        'ca',
        '-file',
        ca.cert,
        '-keystore',
        file,
        '-storetype',
        'PKCS12',
        '-storepass',
        STORE_PASSWORD,
      ],
      {
        timeoutMs: 60_000,
      },
    );
    expectSuccess('keytool -importcert', result);
    return file;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
