/** Argon2id password hashing (@node-rs/argon2, off the event loop). */
import { hash, verify } from '@node-rs/argon2';
import type { Config } from '../config/index.js';

const ARGON2ID = 2; // Algorithm.Argon2id; the enum is a const enum, unusable under isolated modules.

export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly params: Config['argon2']) {}

  /** NFKC-normalised so the same password typed in composed or decomposed form verifies (NIST 800-63B §3.1.1.2). */
  static normalise(password: string): string {
    return password.normalize('NFKC');
  }

  hash(password: string): Promise<string> {
    return hash(PasswordHasher.normalise(password), { algorithm: ARGON2ID, ...this.params });
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, PasswordHasher.normalise(password));
    } catch {
      return false;
    }
  }

  /**
   * Runs a full verification against a fixed hash, for unknown accounts: the response takes the same work
   * whether or not the email exists, so timing does not enumerate users.
   */
  async verifyDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash('stepwise-dummy-password-for-timing');
    await this.verify(await this.dummyHash, password);
    return false;
  }
}

/** Length is counted in Unicode code points; no composition rules (NIST 800-63B-4 §3.1.1.2). */
export function validateNewPassword(password: string, policy: Config['password']): string | null {
  const length = [...PasswordHasher.normalise(password)].length;
  if (length < policy.minLength) return `Password must be at least ${policy.minLength} characters.`;
  if (length > policy.maxLength) return `Password must be at most ${policy.maxLength} characters.`;
  return null;
}
