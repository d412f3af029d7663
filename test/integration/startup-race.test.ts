/**
 * Issue 14 scale-out: several IdP processes started together. On a fresh database their migrations all
 * succeed (knex's migration lock made the losers die), and on a freshly migrated one they converge on one
 * first signing key (before, each could insert its own, so one published a key the other did not sign with).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { loadConfig } from '../../src/config/index.js';
import { createDb, migrate } from '../../src/store/db.js';
import { SecretBox } from '../../src/security/crypto.js';
import { SigningKeys } from '../../src/oidc/keys.js';

describe.each(storeMatrix)('first signing key on $name', (kind) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('concurrent migrations on a fresh database all succeed, and the schema is applied once', async () => {
    const stores = await kind.setup();
    cleanups.push(() => stores.cleanup());
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...stores.env });
    const dbs = Array.from({ length: kind.name === 'sqlite' ? 1 : 4 }, () => createDb(config.database));
    try {
      const runs = kind.name === 'sqlite' ? [migrate(dbs[0]!), migrate(dbs[0]!)] : dbs.map((db) => migrate(db, { waitMs: 100, attempts: 900 })) // patient: a loaded machine's PostgreSQL;
      const applied = await Promise.all(runs);
      const total = applied.reduce((n, a) => n + a.length, 0);
      const recorded = await dbs[0]!('knex_migrations').count<{ n: number | string }[]>({ n: '*' }).first();
      expect(total).toBe(Number(recorded?.n));
      expect(Number(recorded?.n)).toBeGreaterThanOrEqual(4);
    } finally {
      for (const db of dbs) await db.destroy();
    }
  }, 120_000);

  it('eight concurrent starters end with exactly one key, and all of them load it', async () => {
    const stores = await kind.setup();
    cleanups.push(() => stores.cleanup());
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...stores.env });
    const setup = createDb(config.database);
    await migrate(setup);
    await setup.destroy();
    // Separate connection pools, like separate processes.
    const dbs = Array.from({ length: kind.name === 'sqlite' ? 1 : 8 }, () => createDb(config.database));
    try {
      const box = SecretBox.fromSecrets(config.secrets);
      const starters = kind.name === 'sqlite' ? Array.from({ length: 8 }, () => dbs[0]!) : dbs;
      const loaded = await Promise.all(starters.map((db) => new SigningKeys(db, box).ensure()));
      const rows = await dbs[0]!('signing_keys').select('kid');
      expect(rows).toHaveLength(1);
      for (const keys of loaded) expect(keys.map((k) => k.kid)).toEqual([rows[0].kid]);
    } finally {
      for (const db of dbs) await db.destroy();
    }
  });
});
