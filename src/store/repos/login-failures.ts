/** Failed password attempts, for the velocity signals (per account, per IP, distinct accounts per IP). */
import type { Db } from '../db.js';
import { guardStore } from '../../errors/index.js';

export class LoginFailuresRepo {
  constructor(private readonly db: Db) {}

  /** `account` is an opaque key (a MAC of the normalised email), never the address itself. */
  async record(account: string, ip: string, nowMs: number): Promise<void> {
    await guardStore(() => this.db('login_failures').insert({ at: nowMs, ip, account }));
  }

  async counts(account: string, ip: string, sinceMs: number): Promise<{ accountFailures: number; ipFailures: number; ipDistinctAccounts: number }> {
    const [a, i, d] = await guardStore(() =>
      Promise.all([
        this.db('login_failures').where({ account }).andWhere('at', '>=', sinceMs).count<{ n: number | string }[]>({ n: '*' }).first(),
        this.db('login_failures').where({ ip }).andWhere('at', '>=', sinceMs).count<{ n: number | string }[]>({ n: '*' }).first(),
        this.db('login_failures').where({ ip }).andWhere('at', '>=', sinceMs).countDistinct<{ n: number | string }[]>({ n: 'account' }).first(),
      ]),
    );
    return { accountFailures: Number(a?.n ?? 0), ipFailures: Number(i?.n ?? 0), ipDistinctAccounts: Number(d?.n ?? 0) };
  }

  async sweep(beforeMs: number): Promise<void> {
    await guardStore(() => this.db('login_failures').where('at', '<', beforeMs).del());
  }
}
