/**
 * Records cached across requests (src/store/shared-cache.ts + src/store/table-generations.ts), on both
 * stores: a cached client or user is served without a query; any change from another connection — as the
 * CLI, another instance or an operator's SQL would make it — is seen at the next lookup (PostgreSQL: once its
 * NOTIFY arrives), and a change this process makes is seen at once on both. While PostgreSQL's change feed is
 * down nothing is served from the cache.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { createDb, type Db } from '../../src/store/db.js';
import { ClientsRepo } from '../../src/store/repos/clients.js';
import { followTableChanges, type TableGenerations } from '../../src/store/table-generations.js';
import { cacheAcrossRequests } from '../../src/store/shared-cache.js';
import { UsersRepo, findByEmailAnswersFindById } from '../../src/store/repos/users.js';
import { RecoveriesRepo } from '../../src/recovery/repo.js';
import { FactorsRepo, filterListsInMemory } from '../../src/store/repos/factors.js';

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.each(storeMatrix)('shared cache on $name', (kind) => {
  let t: TestDb;
  let other: Db; // a second connection: another process's view
  let changes: TableGenerations;
  let clients: ClientsRepo;
  let users: UsersRepo;
  const reads: string[] = [];
  /** Until a second lookup is answered without a query (a write's notification may still be on its way). */
  const untilCached = (lookup: () => Promise<unknown>) =>
    until(async () => {
      await lookup();
      const before = reads.length;
      await lookup();
      return reads.length === before;
    });
  const database = () => (/^postgres/.test(t.env.DATABASE_URL!) ? { client: 'pg' as const, connection: t.env.DATABASE_URL! } : { client: 'sqlite' as const, filename: t.env.DATABASE_URL! });

  beforeAll(async () => {
    t = await testDb(kind);
    other = createDb(database());
    changes = followTableChanges(database(), pino({ level: 'silent' }), t.db)!;
    expect(changes).not.toBeNull();
    await until(() => changes.current('clients') !== null);
    t.db.on('query', (q: { sql: string }) => {
      if (/^select/i.test(q.sql) && /clients|users|recoveries|factors/.test(q.sql)) reads.push(q.sql);
    });
    clients = cacheAcrossRequests(new ClientsRepo(t.db, t.box), 'clients', ['find'], changes);
    users = cacheAcrossRequests(new UsersRepo(t.db), 'users', ['findById'], changes);
    await clients.create({ client_id: 'c1', client_secret: 's3cret', first_party: false, client_name: 'One', redirect_uris: ['https://rp.test/cb'] });
  });
  afterAll(async () => {
    await changes?.close();
    await other?.destroy();
    await t?.cleanup();
  });

  it('serves a cached client without a query, each caller its own copy', async () => {
    // (The create's notification may still be on its way: wait until a lookup is answered from the cache.)
    await untilCached(() => clients.find('c1'));
    reads.length = 0;
    const a = await clients.find('c1');
    const b = await clients.find('c1');
    expect(reads).toHaveLength(0);
    expect(a).toMatchObject({ client_id: 'c1', client_secret: 's3cret', client_name: 'One' });
    a!.client_name = 'mutated';
    expect(b!.client_name).toBe('One');
    expect((await clients.find('c1'))!.client_name).toBe('One');
  });

  it("sees another connection's update and delete at the next lookup", async () => {
    await clients.find('c1');
    const row = await other('clients').where({ client_id: 'c1' }).first();
    const metadata = { ...JSON.parse(row.metadata as string), client_name: 'Renamed' };
    await other('clients').where({ client_id: 'c1' }).update({ metadata: JSON.stringify(metadata) });
    if (kind.name === 'sqlite') expect((await clients.find('c1'))!.client_name).toBe('Renamed'); // at once
    else await until(async () => (await clients.find('c1'))!.client_name === 'Renamed', 2000);
    await other('clients').where({ client_id: 'c1' }).del();
    if (kind.name === 'sqlite') expect(await clients.find('c1')).toBeUndefined();
    else await until(async () => (await clients.find('c1')) === undefined, 2000);
    await clients.create({ client_id: 'c1', client_secret: 'n3w', first_party: false, redirect_uris: ['https://rp.test/cb'] });
  });

  it("a user disabled by another connection is seen at the next lookup; this process's own write at once", async () => {
    const u = await t.user();
    await untilCached(() => users.findById(u.id));
    expect((await users.findById(u.id))!.disabled).toBe(false);
    await other('users').where({ id: u.id }).update({ disabled: true });
    if (kind.name === 'sqlite') expect((await users.findById(u.id))!.disabled).toBe(true);
    else await until(async () => (await users.findById(u.id))!.disabled, 2000);
    // Our own write (through knex, here inside a transaction): no waiting for any notification.
    await t.db.transaction(async (trx) => trx('users').where({ id: u.id }).update({ disabled: false }));
    expect((await users.findById(u.id))!.disabled).toBe(false);
    await new UsersRepo(t.db).endTokens(u.id, 12_345);
    expect((await users.findById(u.id))!.tokensValidAfter).toBe(12_345);
  });

  it('a user found by e-mail is cached for the lookup by id too, and a change is seen by both', async () => {
    const primed = cacheAcrossRequests(new UsersRepo(t.db), 'users', ['findById', 'findByEmail'], changes, { primes: findByEmailAnswersFindById });
    const u = await t.user();
    // (The insert's notification may still be on its way: until a lookup by e-mail is answered from the cache.)
    await untilCached(() => primed.findByEmail(u.email));
    reads.length = 0;
    expect((await primed.findById(u.id))!.email).toBe(u.email);
    expect(reads).toHaveLength(0);
    await other('users').where({ id: u.id }).update({ name: 'Seen' });
    if (kind.name === 'sqlite') expect((await primed.findById(u.id))!.name).toBe('Seen');
    else await until(async () => (await primed.findById(u.id))!.name === 'Seen', 2000);
    expect((await primed.findByEmail(u.email))!.name).toBe('Seen');
  });

  it('keeps "no open recovery" until a recovery is started, by another connection or by this process', async () => {
    const recoveries = cacheAcrossRequests(new RecoveriesRepo(t.db), 'recoveries', ['findOpen'], changes, { keepMisses: true });
    const u = await t.user();
    const v = await t.user();
    await until(async () => {
      await recoveries.findOpen(u.id);
      const before = reads.length;
      expect(await recoveries.findOpen(u.id)).toBeUndefined();
      return reads.length === before;
    });
    // Another connection starts one (as the admin CLI would): seen at the next lookup.
    const row = { status: 'pending', reason: 'lost phone', evidence: 'ticket 1', requested_by: 'admin', created_at: Date.now(), effective_at: Date.now() + 86_400_000 };
    await other('recoveries').insert({ id: 'rec-other', user_id: u.id, ...row });
    if (kind.name === 'sqlite') expect((await recoveries.findOpen(u.id))?.id).toBe('rec-other');
    else await until(async () => (await recoveries.findOpen(u.id))?.id === 'rec-other', 2000);
    // This process's own write: at once, on both stores.
    expect(await recoveries.findOpen(v.id)).toBeUndefined();
    await new RecoveriesRepo(t.db).insert({ id: 'rec-own', userId: v.id, reason: 'lost key', evidence: 'ticket 2', requestedBy: 'admin', createdAt: Date.now(), effectiveAt: Date.now() + 86_400_000 });
    expect((await recoveries.findOpen(v.id))?.id).toBe('rec-own');
    // A cancelled recovery is no longer open.
    await other('recoveries').where({ id: 'rec-other' }).update({ status: 'cancelled', cancelled_at: Date.now() });
    if (kind.name === 'sqlite') expect(await recoveries.findOpen(u.id)).toBeUndefined();
    else await until(async () => (await recoveries.findOpen(u.id)) === undefined, 2000);
  });

  it("cuts each kind's factor list from the user's one cached list: the rows and order of the filtered query", async () => {
    const plain = new FactorsRepo(t.db);
    const factors = filterListsInMemory(cacheAcrossRequests(new FactorsRepo(t.db), 'factors', ['listByUser'], changes));
    const u = await t.user();
    for (const [kind, status, name] of [
      ['totp', 'active', 'phone'],
      ['webauthn', 'active', 'key 1'],
      ['totp', 'pending', 'tablet'],
      ['webauthn', 'active', 'key 2'],
      ['sms', 'active', 'mobile'],
    ] as const) {
      await plain.insert({ userId: u.id, kind, status, name, ...(kind === 'webauthn' ? { credentialId: `cred-${name}-${u.id}`, publicKey: 'pk', counter: 0 } : {}) });
      await new Promise((r) => setTimeout(r, 2)); // distinct created_at: the order is by creation
    }
    const filters = [{}, { kind: 'totp' }, { kind: 'totp', status: 'active' }, { kind: 'webauthn', status: 'active' }, { status: 'pending' }, { kind: 'push' }] as const;
    for (const f of filters) {
      expect((await factors.listByUser(u.id, f)).map((x) => x.name)).toEqual((await plain.listByUser(u.id, f)).map((x) => x.name));
    }
    // Once the whole list is cached, no kind asks the database — not even a filter never asked before (each
    // round's differs; a cache keyed by the filter would read each): SQLite at once, PostgreSQL once the inserts'
    // notifications are in.
    let round = 0;
    await until(async () => {
      await factors.listByUser(u.id);
      const before = reads.length;
      round++;
      await factors.listByUser(u.id, { kind: 'totp', status: 'active', round } as { kind: 'totp' });
      await factors.listByUser(u.id, { kind: 'webauthn', round } as { kind: 'webauthn' });
      return reads.length === before;
    });
    // A factor removed by another connection is gone from every kind's list at the next lookup.
    const [phone] = await plain.listByUser(u.id, { kind: 'totp', status: 'active' });
    await other('factors').where({ id: phone!.id }).del();
    if (kind.name === 'sqlite') expect(await factors.listByUser(u.id, { kind: 'totp', status: 'active' })).toEqual([]);
    else await until(async () => (await factors.listByUser(u.id, { kind: 'totp', status: 'active' })).length === 0, 2000);
  });

  // SQLite only: the counters are read through the read-only connection, and only after the main file moved.
  if (kind.name === 'sqlite')
    it('reads the change counters again only after a commit to the main file, not after transient writes', async () => {
      type Statement = { source: string; get(...args: unknown[]): unknown };
      // better-sqlite3 ships no types: its Statement prototype, from a throwaway in-memory database.
      const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { prepare(sql: string): Statement; close(): void };
      const probe = new Database(':memory:');
      const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Statement;
      probe.close();
      const get = proto.get;
      let counterReads = 0;
      proto.get = function (this: Statement, ...args: unknown[]) {
        if (this.source.includes('cache_generations')) counterReads++;
        return get.apply(this, args);
      };
      try {
        const u = await t.user();
        await users.findById(u.id);
        await clients.find('c1');
        counterReads = 0;
        for (let i = 0; i < 5; i++) {
          await users.findById(u.id);
          await clients.find('c1');
        }
        expect(counterReads).toBe(0);
        // The transient file (key/value, oidc-provider's payloads, rate limits) moves no counter.
        await t.db('ephemeral').insert({ key: 'shared-cache-test', value: '1', expires_at: Date.now() + 60_000 }).onConflict('key').merge();
        await users.findById(u.id);
        expect(counterReads).toBe(0);
        // A commit to the main file by another connection: the change is seen, each counter is read once more.
        await other('users').where({ id: u.id }).update({ name: 'Renamed' });
        expect((await users.findById(u.id))!.name).toBe('Renamed');
        await clients.find('c1');
        await users.findById(u.id);
        await clients.find('c1');
        expect(counterReads).toBe(2);
      } finally {
        proto.get = get;
      }
    });

  // PostgreSQL only (SQLite reads the counter itself, there is no feed to lose).
  if (kind.name === 'postgres+redis')
    it('reads uncached while the change feed is down, and caches again once it is back', async () => {
    await until(() => changes.current('clients') !== null);
    await t.db.raw("select pg_terminate_backend(pid) from pg_stat_activity where query like 'listen stepwise_%' and datname = current_database()");
    await until(() => changes.current('clients') === null, 2000);
    reads.length = 0;
    await clients.find('c1');
    await clients.find('c1');
    expect(reads).toHaveLength(2);
    await until(() => changes.current('clients') !== null, 5000);
    await clients.find('c1');
    reads.length = 0;
    await clients.find('c1');
    expect(reads).toHaveLength(0);
  });
});
