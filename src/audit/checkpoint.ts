/**
 * Signed audit checkpoints: "at time T the chain's event seq S had hash H, and S was the N-th event ever
 * recorded", signed with an Ed25519 key of its own. The private key is derived from the configured master
 * key (HKDF, purpose `audit checkpoint ed25519`), so there is no new secret to manage; the public key is
 * printable (`stepwise audit public-key`) so a verifier needs no secret at all. Someone with database access
 * but not the secrets can delete checkpoints, never make one.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { SecretBox } from '../security/crypto.js';

export type CheckpointKind = 'periodic' | 'export' | 'prune';

export interface Checkpoint {
  type: 'stepwise.audit.checkpoint';
  v: 1;
  /** periodic (the log stream), export (`audit checkpoint`), prune (the boundary a prune deleted through). */
  kind: CheckpointKind;
  seq: number;
  hash: string;
  /** Events recorded up to and including seq, pruned ones included. */
  count: number;
  at: number;
  keyId: string;
  sig: string;
}

export type UnsignedCheckpoint = Omit<Checkpoint, 'type' | 'v' | 'keyId' | 'sig'>;

const KINDS: readonly CheckpointKind[] = ['periodic', 'export', 'prune'];
/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function signedBytes(c: Pick<Checkpoint, 'v' | 'kind' | 'seq' | 'hash' | 'count' | 'at' | 'keyId'>): Buffer {
  return Buffer.from(`stepwise-audit-checkpoint\n${JSON.stringify([c.v, c.kind, c.seq, c.hash, c.count, c.at, c.keyId])}`);
}

export class CheckpointKey {
  readonly keyId: string;
  readonly publicKeyRaw: string;

  private constructor(
    readonly publicKey: KeyObject,
    private readonly privateKey: KeyObject | null,
  ) {
    this.publicKeyRaw = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    this.keyId = createHash('sha256').update(Buffer.from(this.publicKeyRaw, 'base64url')).digest('base64url').slice(0, 16);
  }

  static fromSeed(seed: Buffer): CheckpointKey {
    const priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    return new CheckpointKey(createPublicKey(priv), priv);
  }

  /** A verify-only key: the raw 32-byte public key in base64url, or an SPKI PEM. */
  static fromPublic(text: string): CheckpointKey {
    const t = text.trim();
    try {
      if (/^[A-Za-z0-9_-]{43}$/.test(t)) {
        return new CheckpointKey(createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(t, 'base64url')]), format: 'der', type: 'spki' }), null);
      }
      const key = createPublicKey(t);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error('not Ed25519');
      return new CheckpointKey(key, null);
    } catch {
      throw new Error('--public-key: expected the audit public key (43 base64url characters, or an Ed25519 public key PEM) as printed by `stepwise audit public-key`');
    }
  }

  get pem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  sign(c: UnsignedCheckpoint): Checkpoint {
    if (!this.privateKey) throw new Error('this audit key can only verify');
    const base = { type: 'stepwise.audit.checkpoint' as const, v: 1 as const, ...c, keyId: this.keyId };
    return { ...base, sig: sign(null, signedBytes(base), this.privateKey).toString('base64url') };
  }

  verify(c: Checkpoint): boolean {
    return c.keyId === this.keyId && verify(null, signedBytes(c), this.publicKey, Buffer.from(c.sig, 'base64url'));
  }
}

/** The keys a deployment signs with (first) and still accepts (from previous master keys, during a rotation). */
export class CheckpointKeys {
  constructor(readonly all: readonly CheckpointKey[]) {
    if (all.length === 0) throw new Error('no audit checkpoint key');
  }

  static fromBox(box: SecretBox): CheckpointKeys {
    return new CheckpointKeys(box.derivedKeys('audit checkpoint ed25519').map((seed) => CheckpointKey.fromSeed(seed)));
  }

  get signer(): CheckpointKey {
    return this.all[0]!;
  }

  /** Null when the signature verifies under one of the keys; else why not. */
  reject(c: Checkpoint): string | null {
    const key = this.all.find((k) => k.keyId === c.keyId);
    if (!key) return `checkpoint (seq ${c.seq}) is signed by key ${c.keyId}, which is not the audit key (${this.all.map((k) => k.keyId).join(', ')}): forged, or from another deployment`;
    return key.verify(c) ? null : `checkpoint (seq ${c.seq}) has an invalid signature: it was forged or altered`;
  }
}

function isCheckpoint(v: unknown): v is Checkpoint {
  const c = v as Partial<Checkpoint> | null;
  return (
    !!c &&
    c.type === 'stepwise.audit.checkpoint' &&
    c.v === 1 &&
    KINDS.includes(c.kind as CheckpointKind) &&
    Number.isSafeInteger(c.seq) &&
    typeof c.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(c.hash) &&
    Number.isSafeInteger(c.count) &&
    Number.isSafeInteger(c.at) &&
    typeof c.keyId === 'string' &&
    typeof c.sig === 'string'
  );
}

/** The checkpoint in one JSON value: a checkpoint, a pino `audit.checkpoint` line, or the CLI's `{checkpoint}` output. */
function checkpointIn(v: unknown): Checkpoint | null {
  if (isCheckpoint(v)) return v;
  const inner = (v as { checkpoint?: unknown } | null)?.checkpoint;
  return isCheckpoint(inner) ? inner : null;
}

/**
 * Reads checkpoints from what an operator has: one JSON checkpoint, a JSON array of them, or lines (NDJSON —
 * e.g. the server's log stream, whose `audit.checkpoint` lines are picked and the other lines skipped).
 */
export function parseCheckpoints(text: string): Checkpoint[] {
  const trimmed = text.trim();
  if (!trimmed) throw new Error('the checkpoint input is empty');
  try {
    const whole = JSON.parse(trimmed) as unknown;
    const list = Array.isArray(whole) ? whole.map(checkpointIn) : [checkpointIn(whole)];
    if (list.some((c) => c === null)) throw new Error('not a checkpoint');
    return list as Checkpoint[];
  } catch {
    // Not one JSON value: line by line.
  }
  const found: Checkpoint[] = [];
  for (const line of trimmed.split(/\r?\n/)) {
    if (!line.includes('stepwise.audit.checkpoint')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const c = checkpointIn(parsed);
    if (c) found.push(c);
  }
  if (found.length === 0) throw new Error('no audit checkpoint found in the input (expected the JSON of `stepwise audit checkpoint` or `audit.checkpoint` log lines)');
  return found;
}
