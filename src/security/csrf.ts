/**
 * CSRF tokens for hosted forms: an HMAC of the scope (interaction uid or account session id) under the
 * at-rest key. Only a page rendered for that scope carries it; comparison is constant-time.
 */
import type { SecretBox } from './crypto.js';
import { constantTimeEqual } from './crypto.js';
import { AppError } from '../errors/index.js';

export class Csrf {
  constructor(private readonly box: SecretBox) {}
  token(scope: string): string {
    return this.box.mac(scope, 'csrf');
  }
  assert(scope: string, submitted: unknown): void {
    if (typeof submitted !== 'string' || !constantTimeEqual(submitted, this.token(scope))) throw new AppError('csrf_failed');
  }
}
