/**
 * What has been verified so far in one sign-in interaction. Kept server-side (KV store) under the
 * interaction uid; the browser never carries it, so it cannot be forged or replayed into another interaction.
 */
import type { KvStore } from '../store/kv.js';
import type { VerifiedMethod } from '../factors/types.js';

export interface AuthContext {
  accountId: string;
  methods: VerifiedMethod[];
}

const key = (uid: string) => `authctx:${uid}`;
const TTL_SECONDS = 3600;

export class AuthContextStore {
  constructor(private readonly kv: KvStore) {}

  async get(uid: string): Promise<AuthContext | null> {
    const raw = await this.kv.get(key(uid));
    return raw ? (JSON.parse(raw) as AuthContext) : null;
  }

  /** Adds a verified method; a different account restarts the context (no mixing of two users' factors). */
  async addMethod(uid: string, accountId: string, method: VerifiedMethod): Promise<AuthContext> {
    const current = await this.get(uid);
    const base = current && current.accountId === accountId ? current : { accountId, methods: [] };
    const next: AuthContext = {
      accountId,
      methods: [...base.methods.filter((m) => !(m.kind === method.kind && m.factorId === method.factorId)), method],
    };
    await this.kv.set(key(uid), JSON.stringify(next), TTL_SECONDS);
    return next;
  }

  async clear(uid: string): Promise<void> {
    await this.kv.del(key(uid));
  }
}
