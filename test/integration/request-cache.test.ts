/**
 * The request-scoped read memo (src/store/request-cache.ts) on both stores: one query per distinct read
 * inside a request, none memoised outside one, and any write to the table — through the repo, raw knex or a
 * transaction — makes the next read fresh.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { UsersRepo, findByEmailAnswersFindById } from '../../src/store/repos/users.js';
import { invalidateOnWrites, memoizeReads, requestScope } from '../../src/store/request-cache.js';

const inRequest = <T>(fn: () => Promise<T>) => {
  let out!: Promise<T>;
  void requestScope()({} as never, async () => {
    out = fn();
    await out;
  });
  return out;
};

describe.each(storeMatrix)('request-scoped read memo on $name', (kind) => {
  let t: TestDb;
  let users: UsersRepo;
  const reads: string[] = [];

  beforeAll(async () => {
    t = await testDb(kind);
    invalidateOnWrites(t.db);
    t.db.on('query', (q: { sql: string }) => {
      if (/^select/i.test(q.sql) && q.sql.includes('users')) reads.push(q.sql);
    });
    users = memoizeReads(new UsersRepo(t.db), 'users', ['findById', 'findByEmail']);
  });
  afterAll(async () => t?.cleanup());

  it('reads once per request, and again in the next request', async () => {
    const u = await t.user();
    reads.length = 0;
    await inRequest(async () => {
      const [a, b] = await Promise.all([users.findById(u.id), users.findById(u.id)]);
      expect(a?.email).toBe(u.email);
      expect(b).toEqual(a);
      expect(b).not.toBe(a); // each caller gets its own copy
      await users.findById(u.id);
    });
    expect(reads).toHaveLength(1);
    await inRequest(() => users.findById(u.id));
    expect(reads).toHaveLength(2);
  });

  it('does not memoise outside a request', async () => {
    const u = await t.user();
    reads.length = 0;
    await users.findById(u.id);
    await users.findById(u.id);
    expect(reads).toHaveLength(2);
  });

  it('a raw write, a transaction write and a repo write each make the next read fresh', async () => {
    const u = await t.user();
    await inRequest(async () => {
      expect((await users.findById(u.id))?.name).toBeNull();
      await t.db('users').where({ id: u.id }).update({ name: 'raw' });
      expect((await users.findById(u.id))?.name).toBe('raw');
      await t.db.transaction(async (trx) => trx('users').where({ id: u.id }).update({ name: 'trx' }));
      expect((await users.findById(u.id))?.name).toBe('trx');
      await users.endTokens(u.id, Date.now());
      expect((await users.findById(u.id))?.tokensValidAfter).toBeGreaterThan(0);
    });
  });

  it('a write to another table keeps the memo', async () => {
    const u = await t.user();
    reads.length = 0;
    await inRequest(async () => {
      await users.findById(u.id);
      await t.db('ephemeral').insert({ key: `k${u.id}`, value: 'v', expires_at: Date.now() + 1000 });
      await users.findById(u.id);
    });
    expect(reads).toHaveLength(1);
  });

  describe('a read that answers another (findByEmail primes findById)', () => {
    let primed: UsersRepo;
    beforeAll(() => {
      primed = memoizeReads(new UsersRepo(t.db), 'users', ['findById', 'findByEmail'], '', findByEmailAnswersFindById);
    });

    it('answers findById from the record findByEmail found, as its own copy', async () => {
      const u = await t.user();
      reads.length = 0;
      await inRequest(async () => {
        const byEmail = await primed.findByEmail(u.email);
        const byId = await primed.findById(u.id);
        expect(byId).toEqual(byEmail);
        expect(byId).not.toBe(byEmail);
        expect(byId?.id).toBe(u.id);
      });
      expect(reads).toHaveLength(1);
    });

    it('primes nothing when no user has that e-mail', async () => {
      const u = await t.user();
      reads.length = 0;
      await inRequest(async () => {
        expect(await primed.findByEmail(`nobody-${u.id}@example.test`)).toBeUndefined();
        expect((await primed.findById(u.id))?.email).toBe(u.email);
      });
      expect(reads).toHaveLength(2);
    });

    it('a write between the two reads makes findById read again', async () => {
      const u = await t.user();
      reads.length = 0;
      await inRequest(async () => {
        await primed.findByEmail(u.email);
        await t.db('users').where({ id: u.id }).update({ name: 'renamed' });
        expect((await primed.findById(u.id))?.name).toBe('renamed');
      });
      expect(reads).toHaveLength(2);
    });

    it('a write that lands while findByEmail is still answering primes nothing', async () => {
      const u = await t.user();
      // The real repo, with its answer held back until the write is done.
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      class HeldUsers extends UsersRepo {
        override async findByEmail(email: string) {
          const found = await super.findByEmail(email);
          await held;
          return found;
        }
      }
      const slow = memoizeReads(new HeldUsers(t.db), 'users', ['findById', 'findByEmail'], '', findByEmailAnswersFindById);
      reads.length = 0;
      await inRequest(async () => {
        const pending = slow.findByEmail(u.email);
        while (reads.length === 0) await new Promise((r) => setImmediate(r));
        await t.db('users').where({ id: u.id }).update({ name: 'during' });
        release();
        expect((await pending)?.name).toBeNull(); // read before the write
        expect((await slow.findById(u.id))?.name).toBe('during');
      });
      expect(reads).toHaveLength(2);
    });
  });
});
