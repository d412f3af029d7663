/**
 * Enrolled authenticators (TOTP, WebAuthn, backup-code sets). One table for every kind; kind-specific
 * columns (secret_enc, credential_id, public_key, counter, last_used_step) are null where unused.
 * The conditional updates below are the single-use / anti-replay primitives: they succeed for exactly one
 * of several racing requests on both SQLite and PostgreSQL.
 */
import type { Knex } from 'knex';
import type { Db } from '../db.js';
import { guardStore, AppError } from '../../errors/index.js';
import { newId } from '../../security/crypto.js';
import type { FactorKind } from '../../factors/types.js';
import { wrapMethods } from '../wrap-methods.js';

export interface FactorRecord {
  id: string;
  userId: string;
  kind: FactorKind;
  name: string;
  status: 'pending' | 'active';
  secretEnc: string | null;
  credentialId: string | null;
  publicKey: string | null;
  counter: number | null;
  lastUsedStep: number | null;
  meta: Record<string, unknown>;
  createdAt: number;
  lastUsedAt: number | null;
}

const toRecord = (r: Record<string, unknown>): FactorRecord => ({
  id: r.id as string,
  userId: r.user_id as string,
  kind: r.kind as FactorKind,
  name: r.name as string,
  status: r.status as FactorRecord['status'],
  secretEnc: (r.secret_enc as string | null) ?? null,
  credentialId: (r.credential_id as string | null) ?? null,
  publicKey: (r.public_key as string | null) ?? null,
  counter: r.counter === null || r.counter === undefined ? null : Number(r.counter),
  lastUsedStep: r.last_used_step === null || r.last_used_step === undefined ? null : Number(r.last_used_step),
  meta: JSON.parse((r.meta as string) || '{}') as Record<string, unknown>,
  createdAt: Number(r.created_at),
  lastUsedAt: r.last_used_at === null || r.last_used_at === undefined ? null : Number(r.last_used_at),
});

export interface NewFactor {
  id?: string;
  userId: string;
  kind: FactorKind;
  name: string;
  status: 'pending' | 'active';
  secretEnc?: string | null;
  credentialId?: string | null;
  publicKey?: string | null;
  counter?: number | null;
  lastUsedStep?: number | null;
  meta?: Record<string, unknown>;
}

export class FactorsRepo {
  constructor(private readonly db: Db) {}

  private q(trx?: Knex.Transaction) {
    return (trx ?? this.db)('factors');
  }

  async listByUser(userId: string, opts: { kind?: FactorKind; status?: FactorRecord['status'] } = {}): Promise<FactorRecord[]> {
    const rows = await guardStore(() => {
      let q = this.q().where({ user_id: userId });
      if (opts.kind) q = q.where({ kind: opts.kind });
      if (opts.status) q = q.where({ status: opts.status });
      return q.orderBy('created_at', 'asc');
    });
    return rows.map(toRecord);
  }

  async findById(id: string): Promise<FactorRecord | undefined> {
    const row = await guardStore(() => this.q().where({ id }).first());
    return row ? toRecord(row) : undefined;
  }

  async findByCredentialId(credentialId: string): Promise<FactorRecord | undefined> {
    const row = await guardStore(() => this.q().where({ credential_id: credentialId, kind: 'webauthn' }).first());
    return row ? toRecord(row) : undefined;
  }

  async insert(f: NewFactor, trx?: Knex.Transaction): Promise<FactorRecord> {
    const row = {
      id: f.id ?? newId(),
      user_id: f.userId,
      kind: f.kind,
      name: f.name,
      status: f.status,
      secret_enc: f.secretEnc ?? null,
      credential_id: f.credentialId ?? null,
      public_key: f.publicKey ?? null,
      counter: f.counter ?? null,
      last_used_step: f.lastUsedStep ?? null,
      meta: JSON.stringify(f.meta ?? {}),
      created_at: Date.now(),
      last_used_at: null,
    };
    try {
      await guardStore(() => this.q(trx).insert(row));
    } catch (err) {
      if (/unique|duplicate/i.test((err as Error).message)) throw new AppError('conflict', 'That authenticator is already registered.');
      throw err;
    }
    return toRecord(row);
  }

  /** pending → active; false when it was not pending (already confirmed, or removed meanwhile). */
  async activate(id: string, patch: { lastUsedStep?: number } = {}): Promise<boolean> {
    const n = await guardStore(() =>
      this.q()
        .where({ id, status: 'pending' })
        .update({ status: 'active', last_used_at: Date.now(), ...(patch.lastUsedStep !== undefined ? { last_used_step: patch.lastUsedStep } : {}) }),
    );
    return n === 1;
  }

  async rename(userId: string, id: string, name: string): Promise<boolean> {
    return (await guardStore(() => this.q().where({ id, user_id: userId }).update({ name }))) === 1;
  }

  async remove(userId: string, id: string, trx?: Knex.Transaction): Promise<boolean> {
    return (await guardStore(() => this.q(trx).where({ id, user_id: userId }).del())) === 1;
  }

  /**
   * TOTP anti-replay: records `step` as used only if it is later than the last used step.
   * Exactly one of several concurrent verifications of the same code wins.
   */
  async advanceTotpStep(id: string, step: number): Promise<boolean> {
    const n = await guardStore(() =>
      this.q()
        .where({ id, status: 'active' })
        .andWhere((w) => w.whereNull('last_used_step').orWhere('last_used_step', '<', step))
        .update({ last_used_step: step, last_used_at: Date.now() }),
    );
    return n === 1;
  }

  /** WebAuthn counter update, conditional on the value read before verification (no lost updates). */
  async updateCounter(id: string, expected: number, next: number): Promise<boolean> {
    const n = await guardStore(() =>
      this.q().where({ id, counter: expected }).update({ counter: next, last_used_at: Date.now() }),
    );
    return n === 1;
  }

  async touch(id: string): Promise<void> {
    await guardStore(() => this.q().where({ id }).update({ last_used_at: Date.now() }));
  }

  async updateMeta(id: string, meta: Record<string, unknown>): Promise<void> {
    await guardStore(() => this.q().where({ id }).update({ meta: JSON.stringify(meta) }));
  }
}

type ListFilter = { kind?: FactorKind; status?: FactorRecord['status'] };

/**
 * `repo` with every filtered list (`listByUser(userId, { kind, status })`) cut from the user's whole list: one
 * read — one entry of the caches in front of it (src/store/request-cache.ts, shared-cache.ts) — serves every
 * kind a sign-in asks for (the offer, then the TOTP check, WebAuthn options, SMS numbers …). The same rows in
 * the same order (created_at) as the filtered query.
 */
export function filterListsInMemory(repo: FactorsRepo): FactorsRepo {
  return wrapMethods(
    repo,
    (name) => name === 'listByUser',
    (list) =>
      async (...args: unknown[]) => {
        const [userId, opts = {}] = args as [string, ListFilter?];
        const rows = (await list(userId)) as FactorRecord[];
        return rows.filter((f) => (!opts.kind || f.kind === opts.kind) && (!opts.status || f.status === opts.status));
      },
  );
}
