/**
 * The request's commit (src/audit/request-batch.ts) on both stores: a sign-in history row recorded during a
 * request is written with the request's audit events, in the same transaction, when the handlers are done;
 * an account deleted meanwhile leaves no row and does not fail the commit; outside a request the row is
 * written at once. The device record (src/store/repos/devices.ts) joins the same commit, and its "new device"
 * callback runs only after the commit stored a new record. So does the account's first-sign-in mark.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { AuditLog } from '../../src/audit/log.js';
import { batchAuditPerRequest, deferToRequestCommit } from '../../src/audit/request-batch.js';
import { SignInsRepo } from '../../src/store/repos/sign-ins.js';
import { UsersRepo } from '../../src/store/repos/users.js';
import { DevicesRepo } from '../../src/store/repos/devices.js';

const signIn = (userId: string) => ({ userId, at: Date.now(), network: '203.0.113.0/24', country: 'FR', city: 'Lyon', latitude: 45.75, longitude: 4.85, deviceHash: 'd'.repeat(64) });

describe.each(storeMatrix)('request commit on $name', (kind) => {
  let t: TestDb;
  let audit: AuditLog;
  let signIns: SignInsRepo;
  const inRequest = (fn: () => Promise<void>) => batchAuditPerRequest(audit)({} as never, fn);
  const rows = (userId: string) => t.db('sign_ins').where({ user_id: userId });
  const events = (userId: string) => t.db('audit_events').where({ user_id: userId }).select('type');
  // Transaction ids of the statements that wrote sign_ins and audit_events (knex tags each query with its transaction's).
  const writers: Array<{ table: string; tx: string | undefined }> = [];

  beforeAll(async () => {
    t = await testDb(kind);
    audit = new AuditLog(t.db);
    signIns = new SignInsRepo(t.db);
    t.db.on('query', (q: { sql: string; __knexTxId?: string }) => {
      const table = /insert into [`"]?(sign_ins|audit_events|devices)\b/i.exec(q.sql)?.[1] ?? (/^update [`"]?users[`"]? set [`"]?first_sign_in_at/i.test(q.sql) ? 'users.first_sign_in_at' : undefined);
      if (table) writers.push({ table, tx: q.__knexTxId });
    });
  });
  afterAll(async () => t?.cleanup());

  it('writes the row with the audit events, in one transaction, when the request is done', async () => {
    const u = await t.user();
    writers.length = 0;
    await inRequest(async () => {
      await signIns.record(signIn(u.id));
      await audit.record({ type: 'login.success', outcome: 'success', userId: u.id });
      expect(await rows(u.id)).toHaveLength(0); // not yet
    });
    const [row] = await rows(u.id);
    expect(row).toMatchObject({ network: '203.0.113.0/24', country: 'FR', city: 'Lyon', device_hash: 'd'.repeat(64) });
    expect(Number(row.latitude)).toBeCloseTo(45.75);
    expect(Number(row.at)).toBeGreaterThan(0);
    expect(await events(u.id)).toEqual([{ type: 'login.success' }]);
    expect(writers.map((w) => w.table)).toEqual(['sign_ins', 'audit_events']);
    expect(writers[0]!.tx).toBeDefined();
    expect(writers[0]!.tx).toBe(writers[1]!.tx);
    expect(await signIns.last(u.id)).toMatchObject({ userId: u.id, network: '203.0.113.0/24', latitude: 45.75, longitude: 4.85 });
  });

  it('commits a row on its own when the request recorded no audit event', async () => {
    const u = await t.user();
    await inRequest(() => signIns.record({ ...signIn(u.id), network: null, country: null, city: null, latitude: null, longitude: null, deviceHash: null }));
    expect(await rows(u.id)).toEqual([expect.objectContaining({ network: null, country: null, latitude: null, device_hash: null })]);
  });

  it('an account deleted before the commit leaves no row, and the audit events are still stored', async () => {
    const u = await t.user();
    await inRequest(async () => {
      await signIns.record(signIn(u.id));
      await audit.record({ type: 'login.success', outcome: 'success', userId: u.id });
      await new UsersRepo(t.db).delete(u.id);
    });
    expect(await rows(u.id)).toHaveLength(0);
    expect(await events(u.id)).toEqual([{ type: 'login.success' }]);
  });

  it('outside a request, writes the row at once', async () => {
    const u = await t.user();
    await signIns.record(signIn(u.id));
    expect(await rows(u.id)).toHaveLength(1);
  });

  describe('device record', () => {
    const hash = 'e'.repeat(64);
    const seen = (nowMs: number, extra: { uaFamily?: string; mfaAt?: number | null; rememberedUntil?: number | null } = {}) => ({ uaFamily: 'Firefox on Linux', nowMs, mfaAt: null, rememberedUntil: null, ...extra });
    const device = (userId: string) => new DevicesRepo(t.db).find(userId, hash);

    it('joins the request commit with the sign-in row and the audit events; the new-device callback runs after it', async () => {
      const u = await t.user();
      const devices = new DevicesRepo(t.db);
      const created: string[] = [];
      writers.length = 0;
      await inRequest(async () => {
        await devices.signedIn(u.id, hash, seen(1_000), () => created.push('new'));
        await signIns.record(signIn(u.id));
        await audit.record({ type: 'login.complete', outcome: 'success', userId: u.id });
        expect(await device(u.id)).toBeUndefined(); // not yet
        expect(created).toEqual([]);
      });
      expect(created).toEqual(['new']);
      expect(await device(u.id)).toMatchObject({ uaFamily: 'Firefox on Linux', firstSeen: 1_000, lastSeen: 1_000, lastMfaAt: null, rememberedUntil: null });
      expect(writers.map((w) => w.table)).toEqual(['devices', 'sign_ins', 'audit_events']);
      expect(new Set(writers.map((w) => w.tx)).size).toBe(1);
      expect(writers[0]!.tx).toBeDefined();
    });

    it('a known device moves last_seen and keeps or moves last_mfa_at and remembered_until; no callback', async () => {
      const u = await t.user();
      const devices = new DevicesRepo(t.db);
      const created: number[] = [];
      await inRequest(() => devices.signedIn(u.id, hash, seen(1_000, { mfaAt: 1_000, rememberedUntil: 9_000 }), () => created.push(1)));
      await inRequest(() => devices.signedIn(u.id, hash, seen(2_000, { uaFamily: 'Chrome on Linux' }), () => created.push(2)));
      expect(await device(u.id)).toMatchObject({ firstSeen: 1_000, lastSeen: 2_000, lastMfaAt: 1_000, rememberedUntil: 9_000, uaFamily: 'Chrome on Linux' });
      await inRequest(() => devices.signedIn(u.id, hash, seen(3_000, { mfaAt: 3_000, rememberedUntil: 12_000 }), () => created.push(3)));
      expect(await device(u.id)).toMatchObject({ firstSeen: 1_000, lastSeen: 3_000, lastMfaAt: 3_000, rememberedUntil: 12_000 });
      expect(created).toEqual([1]);
    });

    it('a failed commit stores no device and runs no callback', async () => {
      const u = await t.user();
      const devices = new DevicesRepo(t.db);
      const created: string[] = [];
      const failing = async (trx: import('knex').Knex.Transaction) => {
        await trx.raw('select * from no_such_table_here');
      };
      await expect(
        inRequest(async () => {
          await devices.signedIn(u.id, hash, seen(1_000), () => created.push('new'));
          deferToRequestCommit(failing);
          await audit.record({ type: 'login.complete', outcome: 'success', userId: u.id });
        }),
      ).rejects.toThrow();
      expect(created).toEqual([]);
      expect(await device(u.id)).toBeUndefined();
      expect(await events(u.id)).toEqual([]);
    });

    it('an account deleted before the commit gets no device record, and the audit events are still stored', async () => {
      const u = await t.user();
      const created: string[] = [];
      await inRequest(async () => {
        await new DevicesRepo(t.db).signedIn(u.id, hash, seen(1_000), () => created.push('new'));
        await audit.record({ type: 'login.complete', outcome: 'success', userId: u.id });
        await new UsersRepo(t.db).delete(u.id);
      });
      expect(await t.db('devices').where({ user_id: u.id })).toHaveLength(0);
      expect(created).toEqual([]);
      expect(await events(u.id)).toEqual([{ type: 'login.complete' }]);
    });

    it('outside a request, writes at once and reports a new device', async () => {
      const u = await t.user();
      const created: string[] = [];
      await new DevicesRepo(t.db).signedIn(u.id, hash, seen(1_000), () => created.push('new'));
      expect(created).toEqual(['new']);
      expect(await device(u.id)).toMatchObject({ lastSeen: 1_000 });
    });
  });

  describe('first sign-in mark', () => {
    const users = () => new UsersRepo(t.db);
    const firstAt = async (id: string) => (await users().findById(id))?.firstSignInAt;

    it('joins the request commit with the audit events, once per request; a later mark keeps the first time', async () => {
      const u = await t.user();
      writers.length = 0;
      await inRequest(async () => {
        await users().markFirstSignIn(u.id, 5_000);
        await audit.record({ type: 'login.complete', outcome: 'success', userId: u.id });
        await users().markFirstSignIn(u.id, 6_000); // the gate and the completed sign-in both mark it: one update
        expect(await firstAt(u.id)).toBeNull(); // not yet
      });
      expect(await firstAt(u.id)).toBe(5_000);
      expect(writers.map((w) => w.table)).toEqual(['users.first_sign_in_at', 'audit_events']);
      expect(writers[0]!.tx).toBeDefined();
      expect(writers[0]!.tx).toBe(writers[1]!.tx);
      await inRequest(() => users().markFirstSignIn(u.id, 9_000));
      expect(await firstAt(u.id)).toBe(5_000);
    });

    it('a failed commit leaves the account unmarked', async () => {
      const u = await t.user();
      await expect(
        inRequest(async () => {
          await users().markFirstSignIn(u.id, 5_000);
          deferToRequestCommit(async (trx) => {
            await trx.raw('select * from no_such_table_here');
          });
        }),
      ).rejects.toThrow();
      expect(await firstAt(u.id)).toBeNull();
    });

    it('an account deleted before the commit does not fail it', async () => {
      const u = await t.user();
      await inRequest(async () => {
        await users().markFirstSignIn(u.id, 5_000);
        await audit.record({ type: 'login.complete', outcome: 'success', userId: u.id });
        await users().delete(u.id);
      });
      expect(await events(u.id)).toEqual([{ type: 'login.complete' }]);
    });

    it('outside a request, marks at once', async () => {
      const u = await t.user();
      await users().markFirstSignIn(u.id, 7_000);
      expect(await firstAt(u.id)).toBe(7_000);
    });
  });
});
