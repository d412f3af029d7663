/** Argon2id password hashing (@node-rs/argon2, off the event loop). */
import { hash, verify } from '@node-rs/argon2';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ConcurrencyGate } from '../concurrency-gate.js';
import { resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { PROJECT_ROOT } from '../paths.js';

const ARGON2ID = 2; // Algorithm.Argon2id; the enum is a const enum, unusable under isolated modules.

/**
 * Hashes run at most one per core at a time (ARGON2_CONCURRENCY): each holds `memoryCost` KiB while it runs,
 * and libuv's thread pool (4 threads, or UV_THREADPOOL_SIZE) would otherwise run as many as it has threads —
 * more memory, no more throughput once the cores are busy, and no thread left for file and DNS work.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;
  private readonly gate: ConcurrencyGate;

  constructor(
    private readonly params: Config['argon2'],
    concurrency: number = availableParallelism(),
  ) {
    this.gate = new ConcurrencyGate(concurrency);
  }

  /** NFKC-normalised so the same password typed in composed or decomposed form verifies (NIST 800-63B §3.1.1.2). */
  static normalise(password: string): string {
    return password.normalize('NFKC');
  }

  hash(password: string): Promise<string> {
    const normalised = PasswordHasher.normalise(password);
    return this.gate.run(() => hash(normalised, { algorithm: ARGON2ID, ...this.params }));
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      const normalised = PasswordHasher.normalise(password);
      return await this.gate.run(() => verify(passwordHash, normalised));
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

/** resources/common-passwords.txt (source and selection documented in its header), loaded once on first use. */
let commonPasswords: Set<string> | undefined;
function isCommonPassword(lowered: string): boolean {
  commonPasswords ??= new Set(
    readFileSync(resolve(PROJECT_ROOT, 'resources/common-passwords.txt'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
  return commonPasswords.has(lowered);
}

/** Words a password must not be (whole comparison): the product's name, the user's e-mail, its local part, the name. */
export interface PasswordContext {
  email?: string | null;
  name?: string | null;
  productName?: string | null;
}

/**
 * The one check for a new password (CLI, admin, account page, reset). Length is counted in Unicode code points;
 * no composition rules; the whole password, lower-cased, must not be a common password or a context word, with
 * or without trailing digits and punctuation ("stepwise2026!") (NIST 800-63B-4 §3.1.1.2).
 */
export function validateNewPassword(password: string, policy: Config['password'], context: PasswordContext = {}): string | null {
  const normalised = PasswordHasher.normalise(password);
  const length = [...normalised].length;
  if (length < policy.minLength) return `Password must be at least ${policy.minLength} characters.`;
  if (length > policy.maxLength) return `Password must be at most ${policy.maxLength} characters.`;
  const lowered = normalised.toLowerCase();
  if (isCommonPassword(lowered)) return 'This password is one of the most common passwords. Choose a less predictable one.';
  const email = context.email?.trim().toLowerCase();
  const words = [email, email?.split('@')[0], context.name, context.productName]
    .map((w) => w?.trim().normalize('NFKC').toLowerCase())
    .filter((w): w is string => Boolean(w) && [...w!].length >= 3);
  const stem = lowered.replace(/[\s\d!@#$%^&*()_+=.,;:?~-]+$/u, '');
  if (words.includes(lowered) || words.includes(stem)) return 'Your password must not be your name, your e-mail address or the name of this service.';
  return null;
}
