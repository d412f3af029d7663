/**
 * Backup codes (look-up secrets). Only a keyed lookup MAC and a salted argon2id hash of each code are stored,
 * never the code. `markUsed` is a conditional update: exactly one of several racing uses of a code wins.
 * Lookups are `<keyId>.<mac>` (the key that made them); untagged ones predate per-purpose keys, and key
 * rotation relabels those `legacy.<mac>` (see LEGACY_LOOKUP_TAG).
 */
import type { Knex } from 'knex';
import { isPostgres, type Db } from '../db.js';
import { guardStore } from '../../errors/index.js';
import { newId } from '../../security/crypto.js';

export interface BackupCodeRecord {
  id: string;
  userId: string;
  batchId: string;
  lookup: string;
  codeHash: string;
  createdAt: number;
  usedAt: number | null;
}

/** Tag given to pre-HKDF (untagged) lookups by encryption-key rotation: their key is not recorded. */
export const LEGACY_LOOKUP_TAG = 'legacy';

export interface NewBackupCode {
  lookup: string;
  codeHash: string;
}

const toRecord = (r: Record<string, unknown>): BackupCodeRecord => ({
  id: r.id as string,
  userId: r.user_id as string,
  batchId: r.batch_id as string,
  lookup: r.lookup as string,
  codeHash: r.code_hash as string,
  createdAt: Number(r.created_at),
  usedAt: r.used_at === null || r.used_at === undefined ? null : Number(r.used_at),
});

export class BackupCodesRepo {
  constructor(private readonly db: Db) {}

  /**
   * Replaces the user's whole set in one transaction: the old codes stop working exactly when the new ones
   * exist, and the user's `backup_code` factor row records the new batch id in the same transaction. Racing
   * generations are serialised on the user's row (PostgreSQL; SQLite transactions begin IMMEDIATE): under
   * READ COMMITTED two of them could otherwise each delete nothing and both insert a full set.
   */
  async replaceSet(userId: string, batchId: string, rows: NewBackupCode[], now: number = Date.now()): Promise<void> {
    await guardStore(() =>
      this.db.transaction(async (trx) => {
        if (isPostgres(this.db)) await trx.raw('select id from users where id = ? for update', [userId]);
        await trx('backup_codes').where({ user_id: userId }).del();
        if (rows.length > 0) {
          await trx('backup_codes').insert(
            rows.map((r) => ({
              id: newId(),
              user_id: userId,
              batch_id: batchId,
              lookup: r.lookup,
              code_hash: r.codeHash,
              created_at: now,
              used_at: null,
            })),
          );
        }
        const factor = (await trx('factors').where({ user_id: userId, kind: 'backup_code' }).first('id', 'meta')) as { id: string; meta: string | null } | undefined;
        if (factor) await trx('factors').where({ id: factor.id }).update({ meta: JSON.stringify({ ...(factor.meta ? (JSON.parse(factor.meta) as object) : {}), batchId }) });
      }),
    );
  }

  /**
   * The code row with this lookup MAC (or any of several, e.g. one per configured key), used or not, so
   * callers can tell "already used" from "unknown".
   */
  async findByLookup(userId: string, lookup: string | readonly string[]): Promise<BackupCodeRecord | undefined> {
    const lookups = typeof lookup === 'string' ? [lookup] : [...lookup];
    const row = await guardStore(() => this.db('backup_codes').where({ user_id: userId }).whereIn('lookup', lookups).first());
    return row ? toRecord(row) : undefined;
  }

  async findUnusedByLookup(userId: string, lookup: string | readonly string[]): Promise<BackupCodeRecord | undefined> {
    const lookups = typeof lookup === 'string' ? [lookup] : [...lookup];
    const row = await guardStore(() => this.db('backup_codes').where({ user_id: userId }).whereIn('lookup', lookups).whereNull('used_at').first());
    return row ? toRecord(row) : undefined;
  }

  /** The user's unused codes (at most one set, BACKUP_CODE_COUNT rows). */
  async listUnused(userId: string): Promise<BackupCodeRecord[]> {
    const rows = await guardStore(() => this.db('backup_codes').where({ user_id: userId }).whereNull('used_at'));
    return rows.map(toRecord);
  }

  /** Key rotation: labels untagged (pre-HKDF) lookups `legacy.<mac>`; returns how many. Idempotent. */
  async tagLegacyLookups(trx: Knex.Transaction): Promise<number> {
    return guardStore(() =>
      trx('backup_codes')
        .whereNot('lookup', 'like', '%.%')
        .update({ lookup: trx.raw(`'${LEGACY_LOOKUP_TAG}.' || lookup`) }),
    );
  }

  /** Unused codes whose lookup was not made with key `keyId` (they cannot be re-keyed: the code is not stored). */
  async countUnusedNotUnderKey(keyId: string, trx: Knex.Transaction): Promise<number> {
    const tag = `${keyId}.`;
    const row = await guardStore(() =>
      trx('backup_codes')
        .whereNull('used_at')
        .whereRaw('substr(lookup, 1, ?) <> ?', [tag.length, tag])
        .count({ n: '*' })
        .first(),
    );
    return Number((row as { n?: unknown } | undefined)?.n ?? 0);
  }

  /** Consumes a code; false when it was already used (or removed), so exactly one concurrent caller gets true. */
  async markUsed(id: string, now: number = Date.now()): Promise<boolean> {
    const n = await guardStore(() => this.db('backup_codes').where({ id }).whereNull('used_at').update({ used_at: now }));
    return n === 1;
  }

  async countUnused(userId: string): Promise<number> {
    const row = await guardStore(() => this.db('backup_codes').where({ user_id: userId }).whereNull('used_at').count({ n: '*' }).first());
    return Number((row as { n?: unknown } | undefined)?.n ?? 0);
  }

  async removeAll(userId: string, trx?: Knex.Transaction): Promise<number> {
    return guardStore(() => (trx ?? this.db)('backup_codes').where({ user_id: userId }).del());
  }
}
