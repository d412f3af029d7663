/**
 * Device records: one per (user, browser), keyed by a hash of the browser's signed device cookie. Known
 * devices spare nothing by themselves; a device the user chose to remember spares risk-driven prompts until
 * `rememberedUntil` (never a level requirement).
 */
import type { Db } from '../db.js';
import { guardStore } from '../../errors/index.js';
import { newId } from '../../security/crypto.js';

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
   * Records a successful sign-in from this device, creating the record on first use; true when it was created
   * now. One statement: the upsert returns the record's id, which is the one offered only when it inserted
   * (an update keeps the old id). `mfaAt`: a second factor was verified.
   */
  async touch(userId: string, deviceHash: string, uaFamily: string, nowMs: number, mfaAt: number | null): Promise<boolean> {
    return guardStore(async () => {
      const patch: Record<string, unknown> = { last_seen: nowMs, ua_family: uaFamily };
      if (mfaAt !== null) patch.last_mfa_at = mfaAt;
      const id = newId();
      const [row] = (await this.db('devices')
        .insert({ id, user_id: userId, device_hash: deviceHash, ua_family: uaFamily, first_seen: nowMs, last_seen: nowMs, last_mfa_at: mfaAt })
        .onConflict(['user_id', 'device_hash'])
        .merge(patch)
        .returning('id')) as Array<{ id: string }>;
      return row?.id === id;
    });
  }

  async remember(userId: string, deviceHash: string, untilMs: number): Promise<boolean> {
    const n = await guardStore(() => this.db('devices').where({ user_id: userId, device_hash: deviceHash }).update({ remembered_until: untilMs }));
    return n > 0;
  }

  /** Forgets one remembered device (by record id) or, without an id, all of the user's. Returns how many. */
  async forget(userId: string, id?: string, trx: Db = this.db): Promise<number> {
    return guardStore(() => {
      const q = trx('devices').where({ user_id: userId }).whereNotNull('remembered_until');
      return (id ? q.andWhere({ id }) : q).update({ remembered_until: null });
    });
  }
}
