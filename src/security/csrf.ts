/**
 * CSRF tokens for hosted forms: an HMAC of the scope (interaction uid or account session id) under the
 * CSRF subkey of the at-rest key. Only a page rendered for that scope carries it; comparison is constant-time.
 * Tokens made under a previous key (or before per-purpose keys) still pass, so a key rotation does not
 * fail the forms users have open.
 */
import type { SecretBox } from './crypto.js';
import { constantTimeEqual } from './crypto.js';
import { AppError } from '../errors/index.js';

const PURPOSE = 'csrf';

export class Csrf {
  constructor(private readonly box: SecretBox) {}
  token(scope: string): string {
    return this.box.mac(scope, PURPOSE);
  }
  assert(scope: string, submitted: unknown): void {
    if (typeof submitted !== 'string') throw new AppError('csrf_failed');
    // Check every candidate (no early exit), so timing does not say which key matched.
    let ok = false;
    for (const candidate of this.box.macCandidates(scope, PURPOSE)) ok = constantTimeEqual(submitted, candidate) || ok;
    if (!ok) throw new AppError('csrf_failed');
  }
}
