/**
 * Binds a ZooKeeper session to the tenant that created it, without any state in the proxy.
 *
 * The client never sees the ensemble's session password: it gets that password encrypted with
 * the tenant's key (AES-128 on the single 16-byte block, a keyed permutation, so the sealed value
 * is still 16 bytes: the C client stores exactly 16). On resume the proxy unseals with the key of
 * the listener's tenant. Through another tenant's listener the result is a wrong password, which
 * the ensemble answers with session-expired; guessing a session id is useless without the key.
 *
 * A wrong password must not even reach the ensemble: ZooKeeper closes the connection that holds
 * the session BEFORE it checks the password of a resume, so any tenant who knows (or guesses: ids
 * are sequential per member) another tenant's session id could keep disconnecting it. ZooKeeper's
 * password is a function of the session id (ZooKeeperServer.generatePasswd, unchanged since 3.0),
 * so the proxy checks the unsealed password itself and answers a wrong one with session-expired.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type Cipheriv, type Decipheriv, type KeyObject } from 'node:crypto';
import { SESSION_PASSWORD_LENGTH } from 'jute-ts';

export class SessionSeal {
  /** A KeyObject: a raw Buffer key is imported again by every createCipheriv (~4x the cost of the cipher). */
  private readonly key: KeyObject;

  constructor(key: Buffer) {
    if (key.length !== 16) throw new Error('session seal key must be 16 bytes');
    this.key = createSecretKey(key);
  }

  /**
   * One cipher each way for the seal's lifetime: ECB keeps no state from block to block, so
   * update() on one 16-byte block (padding off, never final()) is what a fresh cipher would give,
   * for a third of the cost of making one per session.
   */
  private encryptor: Cipheriv | undefined;
  private decryptor: Decipheriv | undefined;

  seal(ensemblePassword: Buffer): Buffer {
    return this.transform((this.encryptor ??= blockCipher(createCipheriv('aes-128-ecb', this.key, null))), ensemblePassword);
  }

  /** Any 16 bytes unseal to some 16 bytes; a password of another length becomes 16 zero bytes (never valid). */
  unseal(clientPassword: Buffer): Buffer {
    return this.transform((this.decryptor ??= blockCipher(createDecipheriv('aes-128-ecb', this.key, null))), clientPassword);
  }

  /**
   * The ensemble password of `sessionId` if `clientPassword` is that password sealed with this
   * tenant's key, otherwise undefined (another tenant's password, a guess, the raw ensemble one).
   */
  unsealFor(sessionId: bigint, clientPassword: Buffer): Buffer | undefined {
    const password = this.unseal(clientPassword);
    if (!ensemblePasswordCheck.enabled) return password;
    return password.equals(zooKeeperSessionPassword(sessionId)) ? password : undefined;
  }

  private transform(cipher: Cipheriv | Decipheriv, block: Buffer): Buffer {
    if (block.length !== SESSION_PASSWORD_LENGTH) return Buffer.alloc(SESSION_PASSWORD_LENGTH);
    return cipher.update(block);
  }
}

function blockCipher<C extends Cipheriv | Decipheriv>(cipher: C): C {
  cipher.setAutoPadding(false);
  return cipher;
}

/**
 * The check above assumes the ensemble makes passwords with ZooKeeper's generatePasswd (3.0 to
 * 3.9 do). Every new session verifies that assumption; the first password that does not match
 * turns the check off for this process (resumes then go to the ensemble, which checks them itself)
 * instead of refusing every resume.
 */
const ensemblePasswordCheck = { enabled: true };

/** Called with each new session's real password; false when it disproved the assumption just now. */
export function confirmEnsemblePassword(sessionId: bigint, password: Buffer): boolean {
  if (!ensemblePasswordCheck.enabled || password.equals(zooKeeperSessionPassword(sessionId))) return true;
  ensemblePasswordCheck.enabled = false;
  return false;
}

const RANDOM_MULTIPLIER = 0x5deece66dn;
const RANDOM_MASK = (1n << 48n) - 1n;

/** ZooKeeperServer.generatePasswd: `new java.util.Random(sessionId ^ 0xB3415C00L).nextBytes(new byte[16])`. */
function zooKeeperSessionPassword(sessionId: bigint): Buffer {
  let seed = (BigInt.asIntN(64, sessionId ^ 0xb3415c00n) ^ RANDOM_MULTIPLIER) & RANDOM_MASK;
  const password = Buffer.alloc(SESSION_PASSWORD_LENGTH);
  for (let i = 0; i < SESSION_PASSWORD_LENGTH; ) {
    seed = (seed * RANDOM_MULTIPLIER + 0xbn) & RANDOM_MASK; // Random.next(32)
    let random = Number(BigInt.asIntN(32, seed >> 16n));
    for (let n = Math.min(SESSION_PASSWORD_LENGTH - i, 4); n-- > 0; random >>= 8) password[i++] = random & 0xff;
  }
  return password;
}
