/**
 * Device records: one per (user, browser), keyed by a hash of the browser's signed device cookie. Known
 * devices spare nothing by themselves; a device the user chose to remember spares risk-driven prompts until
 * `rememberedUntil` (never a level requirement).
 */
import { rawRows, type Db } from '../db.js';
import { guardStore } from '../../errors/index.js';
import { newId } from '../../security/crypto.js';
import { writeWithRequestCommit } from '../../audit/request-batch.js';

export interface DeviceRecord {
  id: string;
  userId: string;
  deviceHash: string;
  uaFamily: string;
  firstSeen: number;
  lastSeen: number;
  lastMfaAt: number | null;
  rememberedUntil: number | null;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const toRecord = (r: Record<string, unknown>): DeviceRecord => ({
  id: r.id as string,
  userId: r.user_id as string,
  deviceHash: r.device_hash as string,
  uaFamily: r.ua_family as string,
  firstSeen: Number(r.first_seen),
  lastSeen: Number(r.last_seen),
  lastMfaAt: num(r.last_mfa_at),
  rememberedUntil: num(r.remembered_until),
});

/** A completed sign-in as the device record takes it (epoch ms; null: leave the column as it is). */
export interface DeviceSighting {
  uaFamily: string;
  nowMs: number;
  mfaAt: number | null;
  rememberedUntil: number | null;
}

export class DevicesRepo {
  constructor(private readonly db: Db) {}

  async find(userId: string, deviceHash: string): Promise<DeviceRecord | undefined> {
    const row = await guardStore(() => this.db('devices').where({ user_id: userId, device_hash: deviceHash }).first());
    return row ? toRecord(row) : undefined;
  }

  async listByUser(userId: string): Promise<DeviceRecord[]> {
    const rows = await guardStore(() => this.db('devices').where({ user_id: userId }).orderBy('last_seen', 'desc'));
    return rows.map(toRecord);
  }

  /**
   * A completed sign-in from this device: creates the record on first use, else moves `last_seen` (and
   * `last_mfa_at` when a second factor was verified, `remembered_until` when the user chose to be remembered).
   * One upsert; it returns the record's id, which is the one offered only when it inserted (an update keeps the
   * old id), so `onCreated` runs for a new device only.
   *
   * Inside a request it joins the request's commit (src/audit/request-batch.ts) with the sign-in row and the
   * audit events: nothing reads the record before the request ends (the next sign-in's assessment does), and
   * on SQLite that is one fsync instead of two. `onCreated` then runs once the commit has stored it.
   */
  async signedIn(userId: string, deviceHash: string, seen: DeviceSighting, onCreated?: () => void): Promise<void> {
    let created = false;
    await writeWithRequestCommit(
      this.db,
      async (db) => {
        created = await upsertSeen(db, userId, deviceHash, seen);
      },
      {
        afterCommit: () => {
          if (created) onCreated?.();
        },
      },
    );
  }

  /** Forgets one remembered device (by record id) or, without an id, all of the user's. Returns how many. */
  async forget(userId: string, id?: string, trx: Db = this.db): Promise<number> {
    return guardStore(() => {
      const q = trx('devices').where({ user_id: userId }).whereNotNull('remembered_until');
      return (id ? q.andWhere({ id }) : q).update({ remembered_until: null });
    });
  }
}

/**
 * One statement, like the sign-in row's (src/store/repos/sign-ins.ts): an account deleted before the commit
 * gets no record and cannot fail the commit on the foreign key. A second factor moves `last_mfa_at` and
 * "remember this device" `remembered_until`; otherwise both keep their values. The casts type the
 * parameters for PostgreSQL; SQLite reads them as the column affinities.
 */
async function upsertSeen(db: Db, userId: string, deviceHash: string, seen: DeviceSighting): Promise<boolean> {
  const id = newId();
  const result = (await db.raw(
    `insert into devices (id, user_id, device_hash, ua_family, first_seen, last_seen, last_mfa_at, remembered_until)
     select cast(? as varchar(64)), id, cast(? as varchar(64)), cast(? as varchar(100)), cast(? as bigint), cast(? as bigint),
            cast(? as bigint), cast(? as bigint)
     from users where id = ?
     on conflict (user_id, device_hash) do update set
       last_seen = excluded.last_seen,
       ua_family = excluded.ua_family,
       last_mfa_at = coalesce(excluded.last_mfa_at, devices.last_mfa_at),
       remembered_until = coalesce(excluded.remembered_until, devices.remembered_until)
     returning id`,
    [id, deviceHash, seen.uaFamily, seen.nowMs, seen.nowMs, seen.mfaAt, seen.rememberedUntil, userId],
  )) as Array<{ id: string }> | { rows: Array<{ id: string }> };
  return rawRows(result)[0]?.id === id;
}
