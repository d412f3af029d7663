/**
 * Encryption-key rotation: re-encrypts every value sealed at rest with the current key, in one transaction,
 * so the previous keys can then be removed from configuration. Idempotent: values already sealed with the
 * current key are left alone.
 *
 * Backup codes cannot be re-keyed (only a MAC and a hash of each code are stored). Untagged lookups from
 * before per-purpose keys are relabelled so the factor can still find them, by hash, once their key is gone;
 * the report counts the unused codes not under the current key.
 */
import type { Knex } from 'knex';
import type { Db } from '../store/db.js';
import { DecryptError, type SecretBox } from './crypto.js';
import { AppError, guardStore } from '../errors/index.js';
import { jwkContext } from '../oidc/keys.js';
import { clientSecretContext } from '../store/repos/clients.js';
import { BackupCodesRepo } from '../store/repos/backup-codes.js';
import { totpSecretContext } from '../factors/totp/index.js';
import { smsNumberContext } from '../factors/sms/index.js';

export interface EncryptionRotationReport {
  keyId: string;
  reencrypted: { signing_keys: number; clients: number; factors: number };
  backup_codes: { relabelled_legacy_lookups: number; unused_not_under_current_key: number };
}

interface SealedColumn {
  id: string;
  column: string;
  /** The SecretBox context the row's value was sealed with. */
  context(row: Record<string, unknown>): string;
  extra?: string[];
}

/** Factor kinds that keep a sealed secret, and the context each seals it with. */
const FACTOR_SECRET_CONTEXTS: Record<string, (factorId: string) => string> = { totp: totpSecretContext, sms: smsNumberContext };

type Table = keyof EncryptionRotationReport['reencrypted'];

/** Every column holding a SecretBox ciphertext. */
const COLUMNS: Record<Table, SealedColumn> = {
  signing_keys: { id: 'kid', column: 'jwk_enc', context: (r) => jwkContext(r.kid as string) },
  clients: { id: 'client_id', column: 'secret_enc', context: (r) => clientSecretContext(r.client_id as string) },
  factors: {
    id: 'id',
    column: 'secret_enc',
    extra: ['kind'],
    context: (r) => {
      const of = FACTOR_SECRET_CONTEXTS[r.kind as string];
      if (!of) throw new AppError('conflict', `factors ${String(r.id)}: no known encryption context for kind ${String(r.kind)}`);
      return of(r.id as string);
    },
  },
};

async function resealColumn(trx: Knex.Transaction, box: SecretBox, table: Table): Promise<number> {
  const col = COLUMNS[table];
  const rows = (await trx(table)
    .select(col.id, col.column, ...(col.extra ?? []))
    .whereNotNull(col.column)) as Record<string, unknown>[];
  let n = 0;
  for (const row of rows) {
    const sealed = row[col.column] as string;
    let next: string | null;
    try {
      next = box.reseal(sealed, col.context(row));
    } catch (err) {
      if (!(err instanceof DecryptError)) throw err;
      throw new AppError(
        'conflict',
        `${table} ${String(row[col.id])}: ${err.message}; set the key it was sealed with in STEPWISE_ENCRYPTION_KEY_PREVIOUS`,
      );
    }
    if (next === null) continue;
    // Conditional on the value read: a row a running server rewrote meanwhile is already under its key.
    n += await trx(table).where({ [col.id]: row[col.id], [col.column]: sealed }).update({ [col.column]: next });
  }
  return n;
}

export async function rotateEncryption(db: Db, box: SecretBox): Promise<EncryptionRotationReport> {
  const codes = new BackupCodesRepo(db);
  return guardStore(() =>
    db.transaction(async (trx) => {
      // Sequential: one transaction is one connection.
      const reencrypted = { signing_keys: 0, clients: 0, factors: 0 };
      for (const table of Object.keys(COLUMNS) as Table[]) reencrypted[table] = await resealColumn(trx, box, table);
      const relabelled = await codes.tagLegacyLookups(trx);
      const stale = await codes.countUnusedNotUnderKey(box.keyId, trx);
      return {
        keyId: box.keyId,
        reencrypted,
        backup_codes: { relabelled_legacy_lookups: relabelled, unused_not_under_current_key: stale },
      };
    }),
  );
}
