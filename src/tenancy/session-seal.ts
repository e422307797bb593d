/**
 * Binds a ZooKeeper session to the tenant that created it, without any state in the proxy.
 *
 * The client never sees the ensemble's session password: it gets that password encrypted with
 * the tenant's key (AES-128 on the single 16-byte block, a keyed permutation, so the sealed value
 * is still 16 bytes: the C client stores exactly 16). On resume the proxy unseals with the key of
 * the listener's tenant. Through another tenant's listener the result is a wrong password, which
 * the ensemble answers with session-expired; guessing a session id is useless without the key.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SESSION_PASSWORD_LENGTH } from 'jute-ts';

export class SessionSeal {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 16) throw new Error('session seal key must be 16 bytes');
    this.key = key;
  }

  seal(ensemblePassword: Buffer): Buffer {
    return this.transform(createCipheriv('aes-128-ecb', this.key, null), ensemblePassword);
  }

  /** Any 16 bytes unseal to some 16 bytes; a password of another length becomes 16 zero bytes (never valid). */
  unseal(clientPassword: Buffer): Buffer {
    return this.transform(createDecipheriv('aes-128-ecb', this.key, null), clientPassword);
  }

  private transform(cipher: ReturnType<typeof createCipheriv>, block: Buffer): Buffer {
    if (block.length !== SESSION_PASSWORD_LENGTH) return Buffer.alloc(SESSION_PASSWORD_LENGTH);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(block), cipher.final()]);
  }
}
