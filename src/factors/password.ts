/** Password: the knowledge factor. Same response and same work for unknown users and wrong passwords. */
import { verifiedMethod, type FactorInfo, type VerifiedMethod } from './types.js';
import type { UsersRepo, User } from '../store/repos/users.js';
import type { PasswordHasher } from '../security/password.js';
import { AppError } from '../errors/index.js';

export const passwordInfo: FactorInfo = {
  kind: 'password',
  label: 'Password',
  category: 'knowledge',
  phishingResistant: false,
  canBePrimary: true,
};

export class PasswordFactor {
  readonly info = passwordInfo;
  constructor(
    private readonly users: UsersRepo,
    private readonly hasher: PasswordHasher,
  ) {}

  /** @throws AppError('invalid_credentials') for an unknown email, a disabled account or a wrong password. */
  async verify(email: string, password: string, now: number): Promise<{ user: User; method: VerifiedMethod }> {
    const user = await this.users.findByEmail(email);
    const ok = user ? await this.hasher.verify(user.passwordHash, password) : await this.hasher.verifyDummy(password);
    if (!user || !ok || user.disabled) throw new AppError('invalid_credentials', undefined, 'password');
    return {
      user,
      method: verifiedMethod(passwordInfo, { amr: ['pwd'], nowMs: now * 1000 }),
    };
  }
}
