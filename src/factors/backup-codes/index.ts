/**
 * Backup codes (NIST "look-up secrets"): a possession factor, second factor only, never phishing-resistant.
 * Each generation creates 10 codes of 80 bits (16 characters of Crockford's base32, shown once) and replaces
 * the previous set atomically. The database holds, per code, a keyed lookup MAC (to find the row without
 * scanning) and a salted argon2id hash; never the code itself. Each code works once.
 * The lookup MAC names the encryption key it was made with. Codes cannot be re-keyed when that key rotates
 * (the code is not stored), so a code is found under the current or any previous key, and a code whose key
 * is no longer configured at all is found by checking its hash against the user's few orphaned codes.
 */
import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { verifiedMethod, type Factor, type FactorContext, type FactorInfo, type FactorInput, type VerifiedMethod, type ViewModel } from '../types.js';
import type { FactorsRepo, FactorRecord } from '../../store/repos/factors.js';
import { LEGACY_LOOKUP_TAG, type BackupCodeRecord, type BackupCodesRepo } from '../../store/repos/backup-codes.js';
import type { SecretBox } from '../../security/crypto.js';
import type { PasswordHasher } from '../../security/password.js';
import { newId } from '../../security/crypto.js';
import { AppError } from '../../errors/index.js';

export const backupCodesInfo: FactorInfo = {
  kind: 'backup_code',
  label: 'Backup codes',
  category: 'possession',
  phishingResistant: false,
  canBePrimary: false,
};

export const BACKUP_CODE_COUNT = 10;
/** Crockford's base32 (no I, L, O, U), lower case: 5 bits per character. */
export const BACKUP_CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
/** 16 characters × 5 bits = 80 bits per code. */
export const BACKUP_CODE_LENGTH = 16;
const LOOKUP_PURPOSE = 'backup-code-lookup';
const CODE_RE = new RegExp(`^[${BACKUP_CODE_ALPHABET}]{${BACKUP_CODE_LENGTH}}$`);

/** A new code in normalised form (16 characters, no dashes), from 10 CSPRNG bytes without modulo bias. */
export function generateBackupCode(): string {
  const bytes = randomBytes((BACKUP_CODE_LENGTH * 5) / 8);
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BACKUP_CODE_ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** `abcd-efgh-jkmn-pqrs` for display. */
export function formatBackupCode(normalised: string): string {
  return normalised.match(/.{1,4}/g)?.join('-') ?? normalised;
}

/**
 * Canonical form of user input: case-insensitive, spaces and dashes ignored, and the look-alikes Crockford
 * defines (o → 0, i/l → 1). Returns null when the result is not a well-formed code.
 */
export function normaliseBackupCode(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > 64) return null;
  const s = raw.toLowerCase().replace(/[\s-]+/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return CODE_RE.test(s) ? s : null;
}

export interface BackupCodesFactorDeps {
  factors: FactorsRepo;
  codes: BackupCodesRepo;
  box: SecretBox;
  hasher: PasswordHasher;
}

const verifySchema = z.object({
  code: z.unknown().transform((v, ctx) => {
    const code = normaliseBackupCode(v);
    if (code === null) {
      ctx.addIssue({ code: 'custom', message: 'Enter one of your backup codes, like abcd-efgh-jkmn-pqrs.' });
      return z.NEVER;
    }
    return code;
  }),
});

export class BackupCodesFactor implements Factor {
  readonly info = backupCodesInfo;

  constructor(private readonly deps: BackupCodesFactorDeps) {}

  /** The lookup stored for a new code: a MAC under the current key, tagged with that key's id. */
  lookupOf(normalised: string): string {
    return this.deps.box.taggedMac(normalised, LOOKUP_PURPOSE);
  }

  /** Every lookup the code may be stored under: tagged per configured key, then pre-HKDF (untagged or relabelled). */
  lookupCandidates(normalised: string): string[] {
    const { box } = this.deps;
    const legacy = box.legacyMacCandidates(normalised, LOOKUP_PURPOSE);
    return [...box.taggedMacCandidates(normalised, LOOKUP_PURPOSE), ...legacy, ...legacy.map((m) => `${LEGACY_LOOKUP_TAG}.${m}`)];
  }

  async startChallenge(_ctx: FactorContext): Promise<ViewModel> {
    return {};
  }

  /**
   * Generates a new set (returned once, formatted) and replaces the old one: `{ codes, remaining }`.
   * The user has one `backup_code` factor row; regeneration keeps it and records the new batch id.
   */
  async startEnrollment(ctx: FactorContext, _input: FactorInput): Promise<ViewModel> {
    const batchId = newId();
    const plain = Array.from({ length: BACKUP_CODE_COUNT }, () => generateBackupCode());
    const rows = await Promise.all(plain.map(async (code) => ({ lookup: this.lookupOf(code), codeHash: await this.deps.hasher.hash(code) })));

    if (!(await this.factorOf(ctx.userId))) {
      await this.deps.factors.insert({ userId: ctx.userId, kind: 'backup_code', name: backupCodesInfo.label, status: 'active', meta: { batchId } });
    }
    // Writes the set and the factor row's batch id together (a racing generation cannot mix the two).
    await this.deps.codes.replaceSet(ctx.userId, batchId, rows, ctx.now);
    return { codes: plain.map(formatBackupCode), remaining: BACKUP_CODE_COUNT };
  }

  async finishEnrollment(_ctx: FactorContext, _input: FactorInput): Promise<{ factorId: string; view: ViewModel }> {
    throw new AppError('invalid_request', 'Backup codes need no confirmation.');
  }

  async verify(ctx: FactorContext, input: FactorInput): Promise<VerifiedMethod> {
    const parsed = verifySchema.safeParse(input ?? {});
    if (!parsed.success) throw new AppError('invalid_form', parsed.error.issues[0]?.message, 'code');
    const code = parsed.data.code;

    const factor = await this.factorOf(ctx.userId);
    const row = factor ? await this.deps.codes.findByLookup(ctx.userId, this.lookupCandidates(code)) : undefined;
    if (factor && row) {
      if (!(await this.deps.hasher.verify(row.codeHash, code))) throw new AppError('invalid_code', undefined, 'code');
      return this.consume(ctx, factor, row);
    }
    const orphan = factor ? await this.findOrphan(ctx.userId, code) : { row: undefined, checked: 0 };
    if (factor && orphan.row) return this.consume(ctx, factor, orphan.row);
    // Same work as a real check, so the response time does not reveal whether the lookup matched.
    if (orphan.checked === 0) await this.deps.hasher.verifyDummy(code);
    throw new AppError('invalid_code', undefined, 'code');
  }

  private async consume(ctx: FactorContext, factor: FactorRecord, row: BackupCodeRecord): Promise<VerifiedMethod> {
    if (row.usedAt !== null || !(await this.deps.codes.markUsed(row.id, ctx.now))) throw new AppError('code_reused', undefined, 'code');
    await this.deps.factors.touch(factor.id);
    return verifiedMethod(backupCodesInfo, { factorId: factor.id, amr: ['otp'], nowMs: ctx.now });
  }

  /**
   * Finds the code among the user's unused codes whose lookup key is gone: tagged with a key id no longer
   * configured, or pre-HKDF relabelled by rotation (its key is unknown). At most one set, so at most
   * BACKUP_CODE_COUNT hash checks, and only reachable after the first factor succeeded.
   */
  private async findOrphan(userId: string, code: string): Promise<{ row: BackupCodeRecord | undefined; checked: number }> {
    const known = new Set(this.deps.box.keyIds);
    const orphans = (await this.deps.codes.listUnused(userId)).filter((r) => {
      const dot = r.lookup.indexOf('.');
      if (dot < 0) return false; // untagged: only made under a key still configured (rotation relabels them)
      const tag = r.lookup.slice(0, dot);
      return tag === LEGACY_LOOKUP_TAG || !known.has(tag);
    });
    for (const row of orphans) {
      if (await this.deps.hasher.verify(row.codeHash, code)) return { row, checked: orphans.length };
    }
    return { row: undefined, checked: orphans.length };
  }

  /** Deletes the user's codes (with their factor row, in the caller's transaction). */
  async removeCodes(userId: string, trx?: Knex.Transaction): Promise<void> {
    await this.deps.codes.removeAll(userId, trx);
  }

  /** Unused codes left (0 when the user has no backup-code factor). */
  async remaining(userId: string): Promise<number> {
    return (await this.factorOf(userId)) ? this.deps.codes.countUnused(userId) : 0;
  }

  private async factorOf(userId: string): Promise<FactorRecord | undefined> {
    const rows = await this.deps.factors.listByUser(userId, { kind: 'backup_code' });
    return rows.find((r) => r.status === 'active') ?? rows[0];
  }
}
