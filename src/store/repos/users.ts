import type { Db } from '../db.js';
import { writeWithRequestCommit } from '../../audit/request-batch.js';
import { guardStore, AppError } from '../../errors/index.js';
import { newId } from '../../security/crypto.js';
import type { Primes } from '../request-cache.js';

export interface User {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
  /** Grants (and so every token) saved before this time (epoch ms) are dead; 0 when never ended. */
  tokensValidAfter: number;
  /** Machine identity: exempt from enrollment and risk prompts, never more than loa1. */
  serviceAccount: boolean;
  /** First completed sign-in (epoch ms): the enforcement grace period counts from it. */
  firstSignInAt: number | null;
  /** The address was confirmed with a verification link (the `email_verified` claim). */
  emailVerified: boolean;
  /** The user's language (a supported tag), remembered at sign-in and from the switcher; null: never known. */
  locale: string | null;
}

const toUser = (row: Record<string, unknown>): User => ({
  id: row.id as string,
  email: row.email as string,
  name: (row.name as string | null) ?? null,
  passwordHash: row.password_hash as string,
  disabled: Boolean(row.disabled),
  createdAt: Number(row.created_at),
  tokensValidAfter: Number(row.tokens_valid_after ?? 0),
  serviceAccount: Boolean(row.service_account),
  firstSignInAt: row.first_sign_in_at === null || row.first_sign_in_at === undefined ? null : Number(row.first_sign_in_at),
  emailVerified: Boolean(row.email_verified),
  locale: typeof row.locale === 'string' && row.locale !== '' ? row.locale : null,
});

/**
 * For the read caches (src/store/request-cache.ts, shared-cache.ts): the user `findByEmail` found is the one
 * `findById(user.id)` finds — the password step asks by e-mail, what follows it by id.
 */
export const findByEmailAnswersFindById: Primes = {
  findByEmail: (user) => (user ? { method: 'findById', args: [(user as User).id] } : undefined),
};

export function normaliseEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase();
}

export class UsersRepo {
  constructor(private readonly db: Db) {}

  async findByEmail(email: string): Promise<User | undefined> {
    const row = await guardStore(() => this.db('users').where({ email: normaliseEmail(email) }).first());
    return row ? toUser(row) : undefined;
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await guardStore(() => this.db('users').where({ id }).first());
    return row ? toUser(row) : undefined;
  }

  /** Ends every token of the user issued until `nowMs` (see oidc/grant-epoch.ts). */
  async endTokens(id: string, nowMs: number, trx: Db = this.db): Promise<void> {
    await guardStore(() => trx('users').where({ id }).update({ tokens_valid_after: nowMs, updated_at: nowMs }));
  }

  /**
   * Marks the account's first sign-in (no-op after the first). Inside a request it joins the request's commit
   * (src/audit/request-batch.ts), once per request: on SQLite one fsync less for every account's first sign-in.
   * The one reader in the same request, the completed sign-in's "signed in before?" (src/risk/service.ts),
   * treats a mark made during this sign-in and no mark alike. An account deleted meanwhile matches no row.
   */
  async markFirstSignIn(id: string, nowMs: number): Promise<void> {
    await writeWithRequestCommit(
      this.db,
      async (db) => {
        await db('users').where({ id }).whereNull('first_sign_in_at').update({ first_sign_in_at: nowMs });
      },
      // The enforcement gate and the completed sign-in both mark it, often in the same request: one update.
      { once: `first-sign-in:${id}` },
    );
  }

  /**
   * Remembers the user's language: one UPDATE that writes only when it changes (no read first), so calling it
   * on every sign-in costs nothing when the language is the same. The caller passes a supported locale.
   */
  async rememberLocale(id: string, locale: string): Promise<void> {
    await guardStore(() =>
      this.db('users')
        .where({ id })
        .andWhere((w) => w.whereNull('locale').orWhereNot('locale', locale))
        .update({ locale }),
    );
  }

  /** Marks `email` verified, only while it is still the user's address (a stale link changes nothing). */
  async markEmailVerified(id: string, email: string, nowMs: number): Promise<boolean> {
    const n = await guardStore(() => this.db('users').where({ id, email: normaliseEmail(email) }).update({ email_verified: true, updated_at: nowMs }));
    return Number(n) > 0;
  }

  /** Replaces the address `from` with the verified `to`; false when `from` is no longer the user's address. */
  async changeEmail(id: string, from: string, to: string, nowMs: number): Promise<boolean> {
    try {
      const n = await guardStore(() =>
        this.db('users').where({ id, email: normaliseEmail(from) }).update({ email: normaliseEmail(to), email_verified: true, updated_at: nowMs }),
      );
      return Number(n) > 0;
    } catch (err) {
      if (/unique|duplicate/i.test((err as Error).message)) throw new AppError('conflict', 'That address is already used by another account.', 'email');
      throw err;
    }
  }

  async setPasswordHash(id: string, passwordHash: string, nowMs: number, trx: Db = this.db): Promise<void> {
    await guardStore(() => trx('users').where({ id }).update({ password_hash: passwordHash, updated_at: nowMs }));
  }

  /** Deletes the user; factors, codes, devices and sign-in records go with it (ON DELETE CASCADE). */
  async delete(id: string, trx: Db = this.db): Promise<boolean> {
    return Number(await guardStore(() => trx('users').where({ id }).delete())) > 0;
  }

  async count(): Promise<number> {
    const row = await guardStore(() => this.db('users').count<{ n: number | string }[]>({ n: '*' }).first());
    return Number(row?.n ?? 0);
  }

  async create(input: { email: string; name?: string | null; passwordHash: string; serviceAccount?: boolean; emailVerified?: boolean }): Promise<User> {
    const now = Date.now();
    const row = {
      id: newId(),
      email: normaliseEmail(input.email),
      name: input.name ?? null,
      password_hash: input.passwordHash,
      disabled: false,
      service_account: Boolean(input.serviceAccount),
      email_verified: Boolean(input.emailVerified),
      created_at: now,
      updated_at: now,
    };
    try {
      await guardStore(() => this.db('users').insert(row));
    } catch (err) {
      if (/unique|duplicate/i.test((err as Error).message)) throw new AppError('conflict', 'A user with that email already exists.');
      throw err;
    }
    return toUser(row);
  }
}
