/** A fresh, migrated database (SQLite file or PostgreSQL database) for repository/factor tests. */
import { randomBytes } from 'node:crypto';
import { createDb, migrate, type Db } from '../../src/store/db.js';
import { SecretBox } from '../../src/security/crypto.js';
import { UsersRepo } from '../../src/store/repos/users.js';
import type { StoreKind } from './stores.js';

export interface TestDb {
  db: Db;
  box: SecretBox;
  env: Record<string, string>;
  /** Inserts a user and returns its id (password hash is a placeholder: these tests do not sign in). */
  user(email?: string): Promise<{ id: string; email: string }>;
  cleanup(): Promise<void>;
}

export async function testDb(kind: StoreKind): Promise<TestDb> {
  const stores = await kind.setup();
  const url = stores.env.DATABASE_URL!;
  const db = createDb(/^postgres/.test(url) ? { client: 'pg', connection: url } : { client: 'sqlite', filename: url });
  await migrate(db);
  const users = new UsersRepo(db);
  return {
    db,
    box: new SecretBox(randomBytes(32)),
    env: stores.env,
    async user(email = `u${randomBytes(4).toString('hex')}@example.test`) {
      const u = await users.create({ email, passwordHash: 'x' });
      return { id: u.id, email: u.email };
    },
    async cleanup() {
      await db.destroy();
      await stores.cleanup();
    },
  };
}
