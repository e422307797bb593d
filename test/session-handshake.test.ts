/**
 * The handshake's per-session work made cheap (session/handshake.ts, tenancy/session-seal.ts):
 * one long-lived ECB cipher each way seals as a fresh cipher per session did, and the sealed
 * ConnectResponse, patched in a copy, is byte for byte what decoding and re-encoding it gave.
 */
import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { decodeConnectResponse, encodeConnectResponse } from 'jute-ts';
import { describe, expect, it } from 'vitest';
import { sealedConnectResponse } from '../src/session/handshake.ts';
import { SessionSeal } from '../src/tenancy/session-seal.ts';

const key = randomBytes(16);

function freshCipherSeal(block: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ecb', createSecretKey(key), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

describe('session handshake work', () => {
  it('one cipher each way seals and unseals every block as a fresh cipher does', () => {
    const seal = new SessionSeal(key);
    for (let i = 0; i < 200; i++) {
      const block = randomBytes(16);
      const sealed = seal.seal(block);
      expect(sealed.equals(freshCipherSeal(block))).toBe(true);
      expect(seal.unseal(sealed).equals(block)).toBe(true);
    }
    expect(seal.seal(Buffer.alloc(5)).equals(Buffer.alloc(16))).toBe(true);
  });

  it('the sealed ConnectResponse differs from the ensemble one only in the password, readOnly or not', () => {
    const seal = new SessionSeal(key);
    for (const readOnly of [false, true, undefined]) {
      const passwd = randomBytes(16);
      const response = { protocolVersion: 0, timeOut: 30_000, sessionId: 0x1234_5678_9abcn, passwd, readOnly };
      const frame = encodeConnectResponse(response);
      const expected = encodeConnectResponse({ ...decodeConnectResponse(frame), passwd: seal.seal(passwd) });
      const sealed = sealedConnectResponse(frame, seal);
      expect(sealed.equals(expected)).toBe(true);
      expect(frame.equals(encodeConnectResponse(response))).toBe(true); // the ensemble's frame is left as it was
    }
  });
});
