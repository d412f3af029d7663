/**
 * Two processes' transactions on one SQLite file (src/store/db.ts): our transaction that reads, then writes
 * after another process wrote in between, must get the lock first (the other process waits) instead of
 * failing with SQLITE_BUSY — what knex's DEFERRED transactions gave (a WEB_CONCURRENCY worker failing at
 * start-up next to another).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/store/db.js';

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

/** Another process: one autocommit increment, waiting for the lock like our servers do (busy_timeout). */
function otherProcessIncrement(file: string): Promise<number | null> {
  const script = `const D = require(${JSON.stringify(driver)}); const db = new D(${JSON.stringify(file)}); db.pragma('busy_timeout = 5000'); db.prepare("update counter set n = n + 1 where k = 'x'").run(); db.close();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('SQLite transactions next to another process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-trx-'));
  const file = join(dir, 'x.sqlite');
  let db: Db;
  afterAll(async () => {
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a read-then-write transaction is not failed by a write that lands between its read and its write', async () => {
    db = createDb({ client: 'sqlite', filename: file });
    await db.schema.createTable('counter', (t) => {
      t.string('k').primary();
      t.integer('n');
    });
    await db('counter').insert({ k: 'x', n: 0 });
    let other: Promise<number | null> | undefined;
    await db.transaction(async (trx) => {
      const row = await trx('counter').where({ k: 'x' }).first();
      other = otherProcessIncrement(file);
      await new Promise((r) => setTimeout(r, 400)); // the other process tries to write now
      await trx('counter').where({ k: 'x' }).update({ n: Number(row.n) + 1 });
    });
    expect(await other).toBe(0);
    // Both increments survive: ours was not refused and the other process's was not lost.
    expect((await db('counter').where({ k: 'x' }).first()).n).toBe(2);
  });
});
