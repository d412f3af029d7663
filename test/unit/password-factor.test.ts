/** Password step: one error for unknown user, wrong password and disabled account, with the same hashing work. */
import { afterAll, describe, expect, it } from 'vitest';
import { PasswordFactor } from '../../src/factors/password.js';
import { PasswordHasher } from '../../src/security/password.js';
import { UsersRepo } from '../../src/store/repos/users.js';
import { sqliteStore } from '../helpers/stores.js';
import { testDb } from '../helpers/db.js';

class CountingHasher extends PasswordHasher {
  verifications = 0;
  override async verify(hash: string, password: string) {
    this.verifications++;
    return super.verify(hash, password);
  }
}

describe('PasswordFactor', async () => {
  const hasher = new CountingHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 });
  const t = await testDb(sqliteStore);
  const users = new UsersRepo(t.db);
  const alice = await users.create({ email: 'alice@example.test', passwordHash: await hasher.hash('right password') });
  const bob = await users.create({ email: 'bob@example.test', passwordHash: await hasher.hash('right password') });
  await t.db('users').where({ id: bob.id }).update({ disabled: true });
  const factor = new PasswordFactor(users, hasher);
  afterAll(() => t.cleanup());

  it('verifies the right password and reports pwd', async () => {
    const { user, method } = await factor.verify('alice@example.test', 'right password', 100);
    expect(user.id).toBe(alice.id);
    expect(method).toMatchObject({ kind: 'password', amr: ['pwd'], category: 'knowledge', at: 100 });
  });

  it.each([
    ['unknown user', 'nobody@example.test', 'right password'],
    ['wrong password', 'alice@example.test', 'wrong password'],
    ['disabled account', 'bob@example.test', 'right password'],
  ])('%s: same error, one argon2 verification', async (_label, email, password) => {
    const before = hasher.verifications;
    await expect(factor.verify(email, password, 1)).rejects.toMatchObject({ code: 'invalid_credentials', field: 'password' });
    expect(hasher.verifications - before).toBe(1);
  });
});
