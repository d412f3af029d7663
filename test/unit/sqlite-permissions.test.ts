/** The embedded database holds password hashes and sealed secrets: owner-only directory and files. */
import { chmodSync, mkdtempSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDb, migrate } from '../../src/store/db.js';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('SQLite file permissions', () => {
  it('creates the directory 0700 and the database (and its WAL files) 0600', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'stepwise-perm-')), 'data');
    const file = join(dir, 'db.sqlite');
    const db = createDb({ client: 'sqlite', filename: file });
    try {
      await migrate(db);
      expect(mode(dir)).toBe(0o700);
      expect(mode(file)).toBe(0o600);
      expect(existsSync(`${file}-wal`)).toBe(true);
      expect(mode(`${file}-wal`)).toBe(0o600);
      expect(mode(`${file}-shm`)).toBe(0o600);
    } finally {
      await db.destroy();
    }
  });

  it('narrows an existing world-readable database (and leftover WAL file) to 0600, keeping its data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-perm-'));
    chmodSync(dir, 0o755);
    const file = join(dir, 'db.sqlite');
    const first = createDb({ client: 'sqlite', filename: file });
    await migrate(first);
    await first('users').count({ n: '*' });
    await first.destroy();
    chmodSync(file, 0o644);
    writeFileSync(`${file}-wal`, '');
    chmodSync(`${file}-wal`, 0o644);
    const db = createDb({ client: 'sqlite', filename: file });
    try {
      expect(await migrate(db)).toEqual([]); // same database, nothing truncated
      expect(mode(file)).toBe(0o600);
      expect(mode(`${file}-wal`)).toBe(0o600);
      // An existing directory is left as the operator made it.
      expect(mode(dir)).toBe(0o755);
    } finally {
      await db.destroy();
    }
  });
});
