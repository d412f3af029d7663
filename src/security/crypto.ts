/**
 * Encryption of secrets at rest (AES-256-GCM), keyed MACs, random identifiers and constant-time comparison.
 *
 * The configured 32-byte master key is never used directly: HKDF-SHA-256 derives one subkey for encryption,
 * one per MAC purpose and a short public key id. Ciphertexts are `v2.<keyId>.<base64url(iv|tag|ct)>`, so a
 * box holding the current and previous master keys knows which one opens a value. The `v1.` format (the raw
 * master key, no HKDF, from before rotation existed) still decrypts so existing databases keep working.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Secrets } from '../config/index.js';

const V1 = 'v1';
const V2 = 'v2';
/** HKDF salt: fixed, so derivation is a pure function of the master key (domain separation comes from `info`). */
const HKDF_SALT = Buffer.from('stepwise/hkdf/v2');

export class DecryptError extends Error {
  override name = 'DecryptError';
}

function hkdf(master: Buffer, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', master, HKDF_SALT, info, length));
}

/** One master key and what HKDF derives from it. */
class MasterKey {
  readonly id: string;
  readonly encryptionKey: Buffer;
  private readonly macKeys = new Map<string, Buffer>();

  constructor(readonly raw: Buffer) {
    if (raw.length !== 32) throw new Error('SecretBox needs 32-byte keys');
    // 48 bits: enough to tell a handful of configured keys apart; it is a label, not a secret.
    this.id = hkdf(raw, 'stepwise key id', 6).toString('base64url');
    this.encryptionKey = hkdf(raw, 'stepwise encryption aes-256-gcm');
  }

  macKey(purpose: string): Buffer {
    let key = this.macKeys.get(purpose);
    if (!key) {
      key = hkdf(this.raw, `stepwise mac ${purpose}`);
      this.macKeys.set(purpose, key);
    }
    return key;
  }

  mac(value: string, purpose: string): string {
    return createHmac('sha256', this.macKey(purpose)).update(value).digest('base64url');
  }

  /** The MAC before HKDF: one key for every purpose, purpose prefixed to the value. */
  legacyMac(value: string, purpose: string): string {
    return createHmac('sha256', this.raw).update(`${purpose}\0${value}`).digest('base64url');
  }
}

function seal(key: Buffer, plaintext: string | Buffer, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

function open(key: Buffer, body: string, context: string): Buffer {
  const raw = Buffer.from(body, 'base64url');
  if (raw.length < 28) throw new DecryptError('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  } catch {
    throw new DecryptError('ciphertext does not authenticate (wrong key, context or tampered)');
  }
}

export class SecretBox {
  private readonly current: MasterKey;
  private readonly all: MasterKey[];

  /** `previousKeys` only decrypt (and match MACs); everything new is sealed with `key`. */
  constructor(key: Buffer, previousKeys: readonly Buffer[] = []) {
    this.current = new MasterKey(key);
    this.all = [this.current];
    for (const raw of previousKeys) {
      const k = new MasterKey(raw);
      if (!this.all.some((o) => o.id === k.id)) this.all.push(k);
    }
  }

  static fromSecrets(secrets: Pick<Secrets, 'encryptionKey' | 'previousEncryptionKeys'>): SecretBox {
    return new SecretBox(secrets.encryptionKey, secrets.previousEncryptionKeys ?? []);
  }

  /** Id of the current key, as written in `v2.` ciphertexts and tagged lookups. */
  get keyId(): string {
    return this.current.id;
  }

  /** Ids of every key this box holds, current first. */
  get keyIds(): string[] {
    return this.all.map((k) => k.id);
  }

  /** `context` is bound as additional data, so a ciphertext copied to another row or purpose fails to decrypt. */
  encrypt(plaintext: string | Buffer, context: string): string {
    return `${V2}.${this.current.id}.${seal(this.current.encryptionKey, plaintext, context)}`;
  }

  decrypt(sealed: string, context: string): Buffer {
    const parts = sealed.split('.');
    if (parts[0] === V2 && parts.length === 3) {
      const key = this.all.find((k) => k.id === parts[1]);
      if (!key) throw new DecryptError(`sealed with key ${parts[1]}, which is not configured (current or previous)`);
      return open(key.encryptionKey, parts[2]!, context);
    }
    if (parts[0] === V1 && parts.length === 2) {
      // v1 does not name its key: try each raw key, current first.
      for (const key of this.all) {
        try {
          return open(key.raw, parts[1]!, context);
        } catch (err) {
          if (!(err instanceof DecryptError)) throw err;
        }
      }
      throw new DecryptError('v1 ciphertext does not open with any configured key');
    }
    throw new DecryptError('unsupported ciphertext format');
  }

  decryptString(sealed: string, context: string): string {
    return this.decrypt(sealed, context).toString('utf8');
  }

  /** True when `sealed` is already a v2 ciphertext under the current key (nothing to re-encrypt). */
  isCurrent(sealed: string): boolean {
    return sealed.startsWith(`${V2}.${this.current.id}.`);
  }

  /** Re-encrypts under the current key; null when it already is (so rotation is idempotent). */
  reseal(sealed: string, context: string): string | null {
    if (this.isCurrent(sealed)) return null;
    return this.encrypt(this.decrypt(sealed, context), context);
  }

  /** Keyed hash (HMAC-SHA-256 under the purpose's HKDF subkey of the current key). */
  mac(value: string, purpose: string): string {
    return this.current.mac(value, purpose);
  }

  /**
   * Every MAC `value` may have been stored or issued under while keys rotate: the current key's first, then
   * each previous key's, then the pre-HKDF (`legacyMac`) form under each key.
   */
  macCandidates(value: string, purpose: string): string[] {
    return [...this.all.map((k) => k.mac(value, purpose)), ...this.all.map((k) => k.legacyMac(value, purpose))];
  }

  /** MAC tagged with the id of the key it was made with: `<keyId>.<mac>`. For MACs stored as lookup keys. */
  taggedMac(value: string, purpose: string): string {
    return `${this.current.id}.${this.current.mac(value, purpose)}`;
  }

  /** Tagged MACs under every configured key, current first. */
  taggedMacCandidates(value: string, purpose: string): string[] {
    return this.all.map((k) => `${k.id}.${k.mac(value, purpose)}`);
  }

  /**
   * A 32-byte subkey for a purpose used outside this box (e.g. the audit checkpoint signing seed), under
   * every configured key, current first; HKDF domain separation keeps it apart from the box's own keys.
   */
  derivedKeys(purpose: string): Buffer[] {
    return this.all.map((k) => hkdf(k.raw, `stepwise derived ${purpose}`));
  }

  /** Pre-HKDF MACs of `value` under every configured key (what lookups stored before v2 hold). */
  legacyMacCandidates(value: string, purpose: string): string[] {
    return this.all.map((k) => k.legacyMac(value, purpose));
  }
}

export function newId(): string {
  return randomUUID();
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // Compare equal-length buffers so the timing does not reveal the length of the expected value.
  const len = Math.max(ab.length, bb.length, 1);
  const pa = Buffer.alloc(len);
  const pb = Buffer.alloc(len);
  ab.copy(pa);
  bb.copy(pb);
  return timingSafeEqual(pa, pb) && ab.length === bb.length;
}
