/** Successful sign-ins, kept for the network, location and impossible-travel signals (read by src/risk/history.ts and the collector). */
import type { Db } from '../db.js';
import { guardStore } from '../../errors/index.js';
import { writeWithRequestCommit } from '../../audit/request-batch.js';

export interface SignInRecord {
  userId: string;
  at: number;
  network: string | null;
  country: string | null;
  city: string | null;
  latitude: number | null;
  longitude: number | null;
  deviceHash: string | null;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export class SignInsRepo {
  constructor(private readonly db: Db) {}

  /**
   * Inside a request the row joins the request's commit (src/audit/request-batch.ts): nothing reads it before
   * the request ends (the risk history is read at the next sign-in), and it is stored with the sign-in's audit
   * events in one transaction. Elsewhere it is written at once.
   */
  async record(s: SignInRecord): Promise<void> {
    await writeWithRequestCommit(this.db, (db) => insertIfUserExists(db, s));
  }

  async last(userId: string): Promise<SignInRecord | undefined> {
    const r = await guardStore(() => this.db('sign_ins').where({ user_id: userId }).orderBy('at', 'desc').first());
    return r
      ? {
          userId: r.user_id as string,
          at: Number(r.at),
          network: (r.network as string | null) ?? null,
          country: (r.country as string | null) ?? null,
          city: (r.city as string | null) ?? null,
          latitude: num(r.latitude),
          longitude: num(r.longitude),
          deviceHash: (r.device_hash as string | null) ?? null,
        }
      : undefined;
  }
}

/**
 * One statement that inserts nothing when the account is gone: the row waits for the request's commit, and an
 * account deleted meanwhile must not fail that commit (and with it the request's audit events) on the foreign
 * key. The casts give PostgreSQL the parameters' types (in a SELECT list they would be text); SQLite reads
 * them as the column affinities.
 */
async function insertIfUserExists(db: Db, s: SignInRecord): Promise<void> {
  await db.raw(
    `insert into sign_ins (user_id, at, network, country, city, latitude, longitude, device_hash)
     select id, cast(? as bigint), cast(? as varchar(64)), cast(? as varchar(8)), cast(? as varchar(100)),
            cast(? as double precision), cast(? as double precision), cast(? as varchar(64))
     from users where id = ?`,
    [s.at, s.network, s.country, s.city, s.latitude, s.longitude, s.deviceHash, s.userId],
  );
}
