import type { Db } from '../db.js';
import { guardStore, AppError } from '../../errors/index.js';
import { newId } from '../../security/crypto.js';

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
});

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

  /** Marks the first completed sign-in (no-op after the first). */
  async markFirstSignIn(id: string, nowMs: number): Promise<void> {
    await guardStore(() => this.db('users').where({ id }).whereNull('first_sign_in_at').update({ first_sign_in_at: nowMs }));
  }

  async count(): Promise<number> {
    const row = await guardStore(() => this.db('users').count<{ n: number | string }[]>({ n: '*' }).first());
    return Number(row?.n ?? 0);
  }

  async create(input: { email: string; name?: string | null; passwordHash: string; serviceAccount?: boolean }): Promise<User> {
    const now = Date.now();
    const row = {
      id: newId(),
      email: normaliseEmail(input.email),
      name: input.name ?? null,
      password_hash: input.passwordHash,
      disabled: false,
      service_account: Boolean(input.serviceAccount),
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
