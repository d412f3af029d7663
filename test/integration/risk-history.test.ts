/**
 * src/risk/history.ts on both stores: push denials in the velocity window are counted for an account with a
 * push factor, and for one without, the audit log is not read at all (it grows with every sign-in); the
 * browser's device record comes with the same one statement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { AuditLog } from '../../src/audit/log.js';
import { RiskHistory } from '../../src/risk/history.js';
import { PUSH_DENIED_EVENT } from '../../src/risk/collector.js';
import { DevicesRepo } from '../../src/store/repos/devices.js';

describe.each(storeMatrix)('risk history on $name', (kind) => {
  let t: TestDb;
  const statements: string[] = [];

  beforeAll(async () => {
    t = await testDb(kind);
    t.db.on('query', (q: { sql: string }) => statements.push(q.sql));
  });
  afterAll(async () => t?.cleanup());

  const query = (userId: string, pushDeniedType: string | null, deviceHash: string | null = null) => ({
    userId,
    deviceHash,
    failureAccount: `acct-${userId}`,
    ip: '203.0.113.7',
    network: '203.0.113.0/24',
    place: null,
    sinceMs: Date.now() - 60_000,
    pushDeniedType,
  });

  it('counts denials in the window when asked, and leaves the audit log alone when not', async () => {
    const u = await t.user();
    const audit = new AuditLog(t.db);
    await audit.record({ type: PUSH_DENIED_EVENT, outcome: 'failure', userId: u.id });
    await audit.record({ type: PUSH_DENIED_EVENT, outcome: 'failure', userId: u.id });
    await audit.record({ type: 'login.success', outcome: 'success', userId: u.id });
    const history = new RiskHistory(t.db);

    expect((await history.read(query(u.id, PUSH_DENIED_EVENT))).pushDenials).toBe(2);
    statements.length = 0;
    const without = await history.read(query(u.id, null));
    expect(without.pushDenials).toBe(0);
    expect(statements).toHaveLength(1);
    expect(statements[0]).not.toMatch(/audit_events/);
    expect(without.velocity).toEqual({ accountFailures: 0, ipFailures: 0, ipDistinctAccounts: 0 });
  });

  it("reads the account's record of this browser in the same statement: none, known, remembered until", async () => {
    const u = await t.user();
    const other = await t.user();
    const devices = new DevicesRepo(t.db);
    const history = new RiskHistory(t.db);
    const now = Date.now();
    await devices.signedIn(u.id, 'known-browser', { uaFamily: 'Chrome on Linux', nowMs: now, mfaAt: null, rememberedUntil: null });
    await devices.signedIn(u.id, 'remembered-browser', { uaFamily: 'Chrome on Linux', nowMs: now, mfaAt: now, rememberedUntil: now + 86_400_000 });

    statements.length = 0;
    expect((await history.read(query(u.id, null, 'known-browser'))).device).toEqual({ rememberedUntil: null });
    expect(statements).toHaveLength(1);
    expect((await history.read(query(u.id, null, 'remembered-browser'))).device).toEqual({ rememberedUntil: now + 86_400_000 });
    expect((await history.read(query(u.id, null, 'new-browser'))).device).toBeNull();
    expect((await history.read(query(u.id, null, null))).device).toBeNull();
    // Another account's record of the same browser is not this account's.
    expect((await history.read(query(other.id, null, 'known-browser'))).device).toBeNull();
  });
});
