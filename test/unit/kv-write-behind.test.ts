/**
 * Per-request write-behind of sign-in state (src/store/kv-write-behind.ts) on the real SQLite kv store:
 * reads inside the request see its writes, the store gets only the last value, before the request ends,
 * also when a handler fails; keys outside the prefixes, atomic operations and work outside a request go
 * straight to the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from 'koa';
import { createDb, migrate, type Db } from '../../src/store/db.js';
import { SqlKv } from '../../src/store/kv.js';
import { deferWritesPerRequest, flushKvWritesPerRequest } from '../../src/store/kv-write-behind.js';

describe('kv write-behind per request', () => {
  let db: Db;
  let store: SqlKv;
  let kv: ReturnType<typeof deferWritesPerRequest>;
  const statements: string[] = [];
  const request = <T>(fn: () => Promise<T>) => {
    let out: T;
    return flushKvWritesPerRequest()({} as Context, async () => {
      out = await fn();
    }).then(() => out);
  };

  beforeAll(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    await migrate(db);
    store = new SqlKv(db);
    kv = deferWritesPerRequest(store, ['authctx:']);
    db.on('query', (q: { sql: string }) => statements.push(q.sql));
  });
  afterAll(() => db.destroy());

  it('holds a request’s writes, shows them to its reads, and stores the last value once before it ends', async () => {
    statements.length = 0;
    await request(async () => {
      await kv.set('authctx:a', 'one', 60);
      expect(await kv.get('authctx:a')).toBe('one');
      await kv.set('authctx:a', 'two', 60);
      expect(await kv.get('authctx:a')).toBe('two');
      expect(await store.get('authctx:a')).toBeNull(); // not written yet
    });
    expect(await store.get('authctx:a')).toBe('two');
    expect(statements.filter((s) => /^insert into .ephemeral/.test(s))).toHaveLength(1);
  });

  it('a delete after writes in the same request leaves nothing stored (one statement)', async () => {
    await store.set('authctx:b', 'old', 60);
    statements.length = 0;
    await request(async () => {
      await kv.set('authctx:b', 'new', 60);
      await kv.del('authctx:b');
      expect(await kv.get('authctx:b')).toBeNull();
    });
    expect(await store.get('authctx:b')).toBeNull();
    expect(statements.filter((s) => !/^select/.test(s))).toEqual([expect.stringMatching(/^delete from .ephemeral/)]);
  });

  it('a key found empty, then written and cleared within the request, costs no statement at all', async () => {
    statements.length = 0;
    await request(async () => {
      expect(await kv.get('authctx:g')).toBeNull();
      await kv.set('authctx:g', 'during', 60);
      await kv.del('authctx:g');
    });
    expect(await store.get('authctx:g')).toBeNull();
    expect(statements.filter((s) => !/^select/.test(s))).toEqual([]);
  });

  it('reads a key from the store once per request; the next request reads it again', async () => {
    await store.set('authctx:h', 'stored', 60);
    statements.length = 0;
    await request(async () => {
      expect(await kv.get('authctx:h')).toBe('stored');
      await store.set('authctx:h', 'changed elsewhere', 60); // another request's write, mid-request
      expect(await kv.get('authctx:h')).toBe('stored'); // this request keeps the state it read
      expect(await kv.get('authctx:h')).toBe('stored');
    });
    expect(statements.filter((s) => /^select .* from .ephemeral/.test(s))).toHaveLength(1);
    await request(async () => {
      expect(await kv.get('authctx:h')).toBe('changed elsewhere');
    });
  });

  it('after an atomic take or add, a read goes to the store again', async () => {
    await store.set('authctx:i', 'once', 60);
    await request(async () => {
      expect(await kv.get('authctx:i')).toBe('once');
      expect(await kv.take('authctx:i')).toBe('once');
      expect(await kv.get('authctx:i')).toBeNull();
      expect(await kv.add('authctx:i', 'added', 60)).toBe(true);
      expect(await kv.get('authctx:i')).toBe('added');
    });
  });

  it('stores the writes of a request whose handler failed, and rethrows the failure', async () => {
    await expect(
      request(async () => {
        await kv.set('authctx:c', 'kept', 60);
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(await store.get('authctx:c')).toBe('kept');
  });

  it('writes other keys, atomic take/add and out-of-request writes at once', async () => {
    await request(async () => {
      await kv.set('other:x', 'now', 60);
      expect(await store.get('other:x')).toBe('now');
      await kv.set('authctx:d', 'pending', 60);
      // take is atomic in the store: the pending value is written first, then taken (exactly once).
      expect(await kv.take('authctx:d')).toBe('pending');
      expect(await kv.take('authctx:d')).toBeNull();
      await kv.set('authctx:e', 'pending', 60);
      expect(await kv.add('authctx:e', 'mine', 60)).toBe(false);
    });
    await kv.set('authctx:f', 'direct', 60);
    expect(await store.get('authctx:f')).toBe('direct');
  });
});
