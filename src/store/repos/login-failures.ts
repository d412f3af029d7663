/** Failed password attempts, for the velocity signals (read with the rest of the history: src/risk/history.ts). */
import type { Db } from '../db.js';
import { guardStore } from '../../errors/index.js';

export class LoginFailuresRepo {
  constructor(private readonly db: Db) {}

  /** `account` is an opaque key (a MAC of the normalised email), never the address itself. */
  async record(account: string, ip: string, nowMs: number): Promise<void> {
    await guardStore(() => this.db('login_failures').insert({ at: nowMs, ip, account }));
  }

  async sweep(beforeMs: number): Promise<void> {
    await guardStore(() => this.db('login_failures').where('at', '<', beforeMs).del());
  }
}
