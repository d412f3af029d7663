/**
 * What the stores remember about an account, device, network and place, read for the risk collector in **one**
 * statement (scalar subqueries): the browser's device record, known network, located/known place, the three
 * failure velocities and the recent push denials. Separately these were seven round trips on every sign-in.
 */
import type { Db } from '../store/db.js';
import { guardStore } from '../errors/index.js';

export interface HistoryQuery {
  userId: string;
  /** The browser's device handle (deviceHandle of its signed cookie); null: a browser without one. */
  deviceHash: string | null;
  /** The failure log's opaque account key (failureAccountKey). */
  failureAccount: string;
  ip: string;
  network: string | null;
  place: { country: string; city: string | null } | null;
  sinceMs: number;
  /**
   * The audit event type of a denied push; null when the account has no push factor — nothing to count, and
   * the audit log (which grows with every sign-in of the account) is not scanned.
   */
  pushDeniedType: string | null;
}

export interface History {
  /** The account's record of this browser; null: none (or no device handle). */
  device: { rememberedUntil: number | null } | null;
  knownNetwork: boolean;
  /** null: the user has no located sign-in yet (the place is unknown, not new). */
  knownPlace: boolean | null;
  velocity: { accountFailures: number; ipFailures: number; ipDistinctAccounts: number };
  pushDenials: number;
}

export class RiskHistory {
  constructor(private readonly db: Db) {}

  async read(q: HistoryQuery): Promise<History> {
    const { db } = this;
    const failures = (where: Record<string, string>) => db('login_failures').where(where).andWhere('at', '>=', q.sinceMs);
    const signIns = () => db('sign_ins').where({ user_id: q.userId });
    const device = () => db('devices').where({ user_id: q.userId, device_hash: q.deviceHash! }).limit(1);
    const columns = [
      q.deviceHash ? device().select('id').as('device_id') : db.raw('null as device_id'),
      q.deviceHash ? device().select('remembered_until').as('device_remembered_until') : db.raw('null as device_remembered_until'),
      q.network ? signIns().andWhere({ network: q.network }).select('seq').limit(1).as('known_network') : db.raw('null as known_network'),
      q.place ? signIns().whereNotNull('country').select('seq').limit(1).as('located') : db.raw('null as located'),
      q.place
        ? signIns()
            .andWhere({ country: q.place.country, ...(q.place.city ? { city: q.place.city } : {}) })
            .select('seq')
            .limit(1)
            .as('known_place')
        : db.raw('null as known_place'),
      failures({ account: q.failureAccount }).count('*').as('account_failures'),
      failures({ ip: q.ip }).count('*').as('ip_failures'),
      failures({ ip: q.ip }).countDistinct('account').as('ip_accounts'),
      q.pushDeniedType
        ? db('audit_events').where({ user_id: q.userId, type: q.pushDeniedType }).andWhere('at', '>=', q.sinceMs).count('*').as('push_denials')
        : db.raw('0 as push_denials'),
    ];
    const row = (await guardStore(() => db.select(columns).first())) as Record<string, unknown>;
    const present = (v: unknown) => v !== null && v !== undefined;
    return {
      device: present(row.device_id) ? { rememberedUntil: present(row.device_remembered_until) ? Number(row.device_remembered_until) : null } : null,
      knownNetwork: present(row.known_network),
      knownPlace: q.place ? (present(row.located) ? present(row.known_place) : null) : null,
      velocity: { accountFailures: Number(row.account_failures ?? 0), ipFailures: Number(row.ip_failures ?? 0), ipDistinctAccounts: Number(row.ip_accounts ?? 0) },
      pushDenials: Number(row.push_denials ?? 0),
    };
  }
}
