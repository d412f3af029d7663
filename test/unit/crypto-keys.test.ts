/** SecretBox key handling: HKDF per-purpose subkeys, `v2.<keyId>.` ciphertexts, v1 compatibility, rotation. */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptError, SecretBox } from '../../src/security/crypto.js';
import { Csrf } from '../../src/security/csrf.js';

/** A ciphertext exactly as the pre-HKDF SecretBox wrote it: raw key, `v1.<base64url(iv|tag|ct)>`. */
function sealV1(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
}

/** The pre-HKDF MAC: one raw key for every purpose. */
const legacyMac = (key: Buffer, value: string, purpose: string) => createHmac('sha256', key).update(`${purpose}\0${value}`).digest('base64url');

const keyA = randomBytes(32);
const keyB = randomBytes(32);

describe('SecretBox v2 ciphertexts', () => {
  it('names the key they were sealed with, by a stable fingerprint that is not the key', () => {
    const a = new SecretBox(keyA);
    const sealed = a.encrypt('s3cret', 'ctx');
    const [version, keyId, body] = sealed.split('.');
    expect(version).toBe('v2');
    expect(keyId).toBe(a.keyId);
    expect(keyId).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(body!.length).toBeGreaterThan(30);
    expect(new SecretBox(Buffer.from(keyA)).keyId).toBe(a.keyId);
    expect(new SecretBox(keyB).keyId).not.toBe(a.keyId);
    expect(keyA.toString('base64url')).not.toContain(keyId);
    expect(a.decryptString(sealed, 'ctx')).toBe('s3cret');
  });

  it('encrypts with an HKDF subkey, not the raw master key', () => {
    const sealed = new SecretBox(keyA).encrypt('s3cret', 'ctx');
    const raw = Buffer.from(sealed.split('.')[2]!, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keyA, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from('ctx'));
    decipher.setAuthTag(raw.subarray(12, 28));
    decipher.update(raw.subarray(28));
    expect(() => decipher.final()).toThrow();
  });

  it('still decrypts v1 ciphertexts (raw key) with the current or a previous key', () => {
    const v1 = sealV1(keyA, 'legacy secret', 'client:x');
    expect(new SecretBox(keyA).decryptString(v1, 'client:x')).toBe('legacy secret');
    expect(new SecretBox(keyB, [keyA]).decryptString(v1, 'client:x')).toBe('legacy secret');
    expect(() => new SecretBox(keyA).decryptString(v1, 'client:y')).toThrow(DecryptError);
    expect(() => new SecretBox(keyB).decryptString(v1, 'client:x')).toThrow(DecryptError);
  });

  it('decrypts with a previous key and encrypts with the current one', () => {
    const sealedA = new SecretBox(keyA).encrypt('rotate me', 'totp:1');
    const rotating = new SecretBox(keyB, [keyA]);
    expect(rotating.decryptString(sealedA, 'totp:1')).toBe('rotate me');
    expect(rotating.encrypt('new', 'c').split('.')[1]).toBe(new SecretBox(keyB).keyId);
    expect(rotating.keyIds).toEqual([new SecretBox(keyB).keyId, new SecretBox(keyA).keyId]);
  });

  it('fails with a wrong or missing key, a wrong context, tampering and unknown formats', () => {
    const sealed = new SecretBox(keyA).encrypt('secret', 'c');
    expect(() => new SecretBox(keyB).decrypt(sealed, 'c')).toThrow(/not configured/);
    expect(() => new SecretBox(keyA).decrypt(sealed, 'd')).toThrow(DecryptError);
    // Same key id, other key: a forged label does not help.
    const relabelled = `v2.${new SecretBox(keyB).keyId}.${sealed.split('.')[2]}`;
    expect(() => new SecretBox(keyB).decrypt(relabelled, 'c')).toThrow(DecryptError);
    const body = sealed.split('.')[2]!;
    const flipped = `v2.${sealed.split('.')[1]}.${body.slice(0, -2)}${body.at(-2) === 'A' ? 'B' : 'A'}${body.at(-1)}`;
    expect(() => new SecretBox(keyA).decrypt(flipped, 'c')).toThrow(DecryptError);
    expect(() => new SecretBox(keyA).decrypt('v3.x.y', 'c')).toThrow(/unsupported/);
    expect(() => new SecretBox(keyA).decrypt('v2.short', 'c')).toThrow(/unsupported/);
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32-byte/);
  });

  it('reseal moves v1 and previous-key values to the current key, and leaves current ones alone', () => {
    const rotating = new SecretBox(keyB, [keyA]);
    const fromA = new SecretBox(keyA).encrypt('a', 'c');
    const fromV1 = sealV1(keyA, 'v1', 'c');
    const resealedA = rotating.reseal(fromA, 'c')!;
    const resealedV1 = rotating.reseal(fromV1, 'c')!;
    expect(rotating.isCurrent(resealedA)).toBe(true);
    expect(new SecretBox(keyB).decryptString(resealedA, 'c')).toBe('a');
    expect(new SecretBox(keyB).decryptString(resealedV1, 'c')).toBe('v1');
    expect(rotating.reseal(resealedA, 'c')).toBeNull();
    expect(() => rotating.reseal(fromA, 'other')).toThrow(DecryptError);
  });
});

describe('SecretBox MACs', () => {
  const box = new SecretBox(keyA);

  it('use one key per purpose, none equal to the old single-key MAC', () => {
    const csrf = box.mac('scope-1', 'csrf');
    const lookup = box.mac('scope-1', 'backup-code-lookup');
    expect(csrf).not.toBe(lookup);
    expect(csrf).toBe(new SecretBox(keyA).mac('scope-1', 'csrf'));
    expect(csrf).not.toBe(legacyMac(keyA, 'scope-1', 'csrf'));
    expect(csrf).not.toBe(createHmac('sha256', keyA).update('scope-1').digest('base64url'));
    expect(new SecretBox(keyB).mac('scope-1', 'csrf')).not.toBe(csrf);
  });

  it('candidates cover the current key first, previous keys, then the legacy form', () => {
    const rotating = new SecretBox(keyB, [keyA]);
    const candidates = rotating.macCandidates('v', 'csrf');
    expect(candidates).toEqual([
      new SecretBox(keyB).mac('v', 'csrf'),
      new SecretBox(keyA).mac('v', 'csrf'),
      legacyMac(keyB, 'v', 'csrf'),
      legacyMac(keyA, 'v', 'csrf'),
    ]);
    expect(rotating.taggedMac('v', 'p')).toBe(`${rotating.keyId}.${rotating.mac('v', 'p')}`);
    expect(rotating.taggedMacCandidates('v', 'p')[1]).toBe(new SecretBox(keyA).taggedMac('v', 'p'));
    expect(rotating.legacyMacCandidates('v', 'p')).toEqual([legacyMac(keyB, 'v', 'p'), legacyMac(keyA, 'v', 'p')]);
  });

  it('CSRF tokens from a previous key or from before HKDF pass while that key is configured', () => {
    const oldToken = new Csrf(new SecretBox(keyA)).token('uid-1');
    const rotating = new Csrf(new SecretBox(keyB, [keyA]));
    expect(() => rotating.assert('uid-1', oldToken)).not.toThrow();
    expect(() => rotating.assert('uid-1', legacyMac(keyA, 'uid-1', 'csrf'))).not.toThrow();
    expect(() => rotating.assert('uid-2', oldToken)).toThrow(expect.objectContaining({ code: 'csrf_failed' }));
    expect(() => new Csrf(new SecretBox(keyB)).assert('uid-1', oldToken)).toThrow(expect.objectContaining({ code: 'csrf_failed' }));
    expect(() => rotating.assert('uid-1', undefined)).toThrow(expect.objectContaining({ code: 'csrf_failed' }));
    expect(rotating.token('uid-1')).toBe(new Csrf(new SecretBox(keyB)).token('uid-1'));
  });
});
