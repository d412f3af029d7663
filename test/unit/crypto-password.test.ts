import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, constantTimeEqual } from '../../src/security/crypto.js';
import { PasswordHasher, validateNewPassword } from '../../src/security/password.js';

describe('SecretBox (AES-256-GCM at rest)', () => {
  const box = new SecretBox(randomBytes(32));
  it('round-trips and binds the context', () => {
    const sealed = box.encrypt('JBSWY3DPEHPK3PXP', 'totp:1');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.decryptString(sealed, 'totp:1')).toBe('JBSWY3DPEHPK3PXP');
    expect(() => box.decryptString(sealed, 'totp:2')).toThrow();
    expect(box.encrypt('x', 'c')).not.toBe(box.encrypt('x', 'c'));
  });
  it('detects tampering and a wrong key', () => {
    const sealed = box.encrypt('secret', 'c');
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    expect(() => box.decryptString(flipped, 'c')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).decryptString(sealed, 'c')).toThrow();
  });
  it('compares in constant time without leaking length equality', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});

describe('PasswordHasher (argon2id)', () => {
  const hasher = new PasswordHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 });
  it('stores a salted PHC argon2id hash and verifies it', async () => {
    const a = await hasher.hash('correct horse battery staple');
    const b = await hasher.hash('correct horse battery staple');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=7168,t=1,p=1\$/);
    expect(a).not.toBe(b);
    expect(await hasher.verify(a, 'correct horse battery staple')).toBe(true);
    expect(await hasher.verify(a, 'correct horse battery stapl')).toBe(false);
    expect(await hasher.verify('not a hash', 'x')).toBe(false);
  });
  it('does not truncate long passwords and normalises Unicode (NFKC)', async () => {
    const long = 'p'.repeat(99) + 'q';
    const h = await hasher.hash(long);
    expect(await hasher.verify(h, long.slice(0, -1))).toBe(false);
    const nfc = 'caf\u00e9 au lait 😀 密码';
    const hn = await hasher.hash(nfc);
    expect(await hasher.verify(hn, nfc.normalize('NFD'))).toBe(true);
  });
  it('validates length in code points, with no composition rules', () => {
    const policy = { minLength: 8, maxLength: 256 };
    expect(validateNewPassword('1234567', policy)).toMatch(/at least 8/);
    expect(validateNewPassword('aaaaaaab', policy)).toBeNull();
    expect(validateNewPassword('😀'.repeat(8), policy)).toBeNull();
    expect(validateNewPassword('x'.repeat(128), policy)).toBeNull();
    expect(validateNewPassword('x'.repeat(257), policy)).toMatch(/at most/);
  });
});
