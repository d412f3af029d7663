/**
 * Short-lived push state in the KvStore (Redis, or the SQL store in embedded mode). Every expiry is also
 * written into the value and checked against the injected clock, so a Redis TTL (wall-clock) and the
 * application's clock can never disagree in the application's favour.
 *
 * Keys (all under the store's prefix):
 *   push:ch:<id>          the challenge record (status, answer) — kept 10 min for the page to learn the result
 *   push:open:<id>        present while the challenge may be answered; `take` = the one answer (single use)
 *   push:ok:<id>          an approval not yet used by the sign-in; `take` = used once
 *   push:scope:<scope>    the challenge of this sign-in interaction
 *   push:pending:<user>   the user's one pending push (fatigue limit), set with `add` (atomic)
 *   push:sent:<user>      send times in the last hour (cap per hour)
 *   push:cooldown:<user>  end of the cool-down after a denial
 *   push:enroll:<hash>    an enrollment token's secret hash → enrollment id (single use)
 *   push:enrollment:<id>  an enrollment in progress (the account page polls it)
 */
import type { KvStore } from '../../store/kv.js';

export type ChallengeStatus = 'pending' | 'approved' | 'denied' | 'wrong_number' | 'expired' | 'used';

export interface ChallengeRecord {
  id: string;
  userId: string;
  /** Interaction uid (sign-in) this challenge belongs to. */
  scope: string;
  number: string;
  /** Push factor ids it was offered to. */
  devices: string[];
  createdAt: number;
  expiresAt: number;
  client: string;
  ip: string;
  location: string;
  status: ChallengeStatus;
  answeredAt?: number;
  answeredBy?: string;
  userVerified?: boolean;
}

export interface EnrollmentRecord {
  id: string;
  userId: string;
  expiresAt: number;
  factorId?: string;
  deviceName?: string;
}

interface Slot {
  id: string;
  expiresAt: number;
}

const RECORD_TTL = 600;
const parse = <T>(raw: string | null): T | null => {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
};
const ttlUntil = (expiresAt: number, now: number) => Math.max(1, Math.ceil((expiresAt - now) / 1000));

export class PushState {
  constructor(private readonly kv: KvStore) {}

  // ------------------------------------------------------------------ challenges

  async challenge(id: string): Promise<ChallengeRecord | null> {
    return parse<ChallengeRecord>(await this.kv.get(`push:ch:${id}`));
  }

  async saveChallenge(ch: ChallengeRecord): Promise<void> {
    await this.kv.set(`push:ch:${ch.id}`, JSON.stringify(ch), RECORD_TTL);
  }

  /** Stores a new challenge and opens it for one answer. */
  async open(ch: ChallengeRecord, now: number): Promise<void> {
    await this.saveChallenge(ch);
    await this.kv.set(`push:scope:${ch.scope}`, ch.id, RECORD_TTL);
    await this.kv.set(`push:open:${ch.id}`, ch.userId, ttlUntil(ch.expiresAt, now));
  }

  /** The single answer: true for exactly one caller while the challenge is open. */
  async takeOpen(id: string): Promise<boolean> {
    return (await this.kv.take(`push:open:${id}`)) !== null;
  }

  async forScope(scope: string): Promise<ChallengeRecord | null> {
    const id = await this.kv.get(`push:scope:${scope}`);
    return id ? this.challenge(id) : null;
  }

  async forgetScope(scope: string): Promise<void> {
    await this.kv.del(`push:scope:${scope}`);
  }

  async approve(id: string): Promise<void> {
    await this.kv.set(`push:ok:${id}`, '1', RECORD_TTL);
  }

  /** Uses an approval once (the sign-in step it completes). */
  async takeApproval(id: string): Promise<boolean> {
    return (await this.kv.take(`push:ok:${id}`)) !== null;
  }

  // ------------------------------------------------------------------ fatigue limits

  /** The user's pending challenge id, if its slot is live. */
  async pendingOf(userId: string, now: number): Promise<string | null> {
    const slot = parse<Slot>(await this.kv.get(`push:pending:${userId}`));
    return slot && slot.expiresAt > now ? slot.id : null;
  }

  /**
   * Takes the user's one pending-push slot for challenge `id`. False when another live push holds it. A slot
   * whose own expiry has passed is cleared first (exactly that value: a newer slot is put back).
   */
  async acquireSlot(userId: string, id: string, expiresAt: number, now: number): Promise<boolean> {
    const key = `push:pending:${userId}`;
    const mine = JSON.stringify({ id, expiresAt } satisfies Slot);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.kv.add(key, mine, ttlUntil(expiresAt, now))) return true;
      const current = await this.kv.get(key);
      if (current === null) continue;
      const held = parse<Slot>(current);
      if (held && held.expiresAt > now) return false;
      const taken = await this.kv.take(key);
      if (taken !== null && taken !== current) {
        const other = parse<Slot>(taken);
        if (other) await this.kv.add(key, taken, ttlUntil(other.expiresAt, now));
        return false;
      }
    }
    return false;
  }

  /** Frees the slot if challenge `id` holds it. */
  async releaseSlot(userId: string, id: string, now: number): Promise<void> {
    const key = `push:pending:${userId}`;
    const current = await this.kv.get(key);
    if (parse<Slot>(current)?.id !== id) return;
    const taken = await this.kv.take(key);
    if (taken !== null && taken !== current) {
      const other = parse<Slot>(taken);
      if (other) await this.kv.add(key, taken, ttlUntil(other.expiresAt, now));
    }
  }

  /** Send times (epoch ms) within the hour before `now`. */
  async recentSends(userId: string, now: number): Promise<number[]> {
    const list = parse<number[]>(await this.kv.get(`push:sent:${userId}`)) ?? [];
    return list.filter((t) => typeof t === 'number' && t > now - 3_600_000 && t <= now);
  }

  async recordSend(userId: string, now: number): Promise<void> {
    const list = [...(await this.recentSends(userId, now)), now];
    await this.kv.set(`push:sent:${userId}`, JSON.stringify(list), 3600);
  }

  /** An approved push resets the count: the cap is per hour since the last successful push. */
  async clearSends(userId: string): Promise<void> {
    await this.kv.del(`push:sent:${userId}`);
  }

  async cooldownUntil(userId: string, now: number): Promise<number | null> {
    const until = Number(await this.kv.get(`push:cooldown:${userId}`));
    return Number.isFinite(until) && until > now ? until : null;
  }

  async startCooldown(userId: string, now: number, seconds: number): Promise<void> {
    if (seconds <= 0) return;
    await this.kv.set(`push:cooldown:${userId}`, String(now + seconds * 1000), seconds);
  }

  // ------------------------------------------------------------------ enrollment

  async startEnrollment(rec: EnrollmentRecord, secretHash: string, now: number): Promise<void> {
    const ttl = ttlUntil(rec.expiresAt, now);
    await this.kv.set(`push:enrollment:${rec.id}`, JSON.stringify(rec), ttl + 300);
    await this.kv.set(`push:enroll:${secretHash}`, rec.id, ttl);
  }

  /** Consumes an enrollment token (single use): its live enrollment, or null. */
  async redeemToken(secretHash: string, now: number): Promise<EnrollmentRecord | null> {
    const id = await this.kv.take(`push:enroll:${secretHash}`);
    if (!id) return null;
    const rec = await this.enrollment(id);
    return rec && rec.expiresAt > now && !rec.factorId ? rec : null;
  }

  async enrollment(id: string): Promise<EnrollmentRecord | null> {
    return parse<EnrollmentRecord>(await this.kv.get(`push:enrollment:${id}`));
  }

  async saveEnrollment(rec: EnrollmentRecord): Promise<void> {
    await this.kv.set(`push:enrollment:${rec.id}`, JSON.stringify(rec), RECORD_TTL);
  }

  async endEnrollment(id: string): Promise<void> {
    await this.kv.del(`push:enrollment:${id}`);
  }
}
