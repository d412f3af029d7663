/** Successful sign-ins, kept for the network, location and impossible-travel signals (read by src/risk/history.ts and the collector). */
import type { Db } from '../db.js';
import { guardStore } from '../../errors/index.js';

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

  async record(s: SignInRecord): Promise<void> {
    await guardStore(() =>
      this.db('sign_ins').insert({
        user_id: s.userId,
        at: s.at,
        network: s.network,
        country: s.country,
        city: s.city,
        latitude: s.latitude,
        longitude: s.longitude,
        device_hash: s.deviceHash,
      }),
    );
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
