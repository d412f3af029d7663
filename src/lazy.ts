/**
 * Loads a package on first use instead of at start-up. SDKs that only some deployments or requests need
 * (Twilio, QR codes, WebAuthn, SMTP, GeoIP, phone numbers) cost start-up time and idle memory in every
 * process otherwise. Each of these packages ships a CommonJS build, so the load is synchronous and the
 * call sites stay synchronous; types come from `typeof import(...)`.
 */
import { createRequire } from 'node:module';

const requireFromHere = createRequire(import.meta.url);

export function lazy<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireFromHere(id) as T);
}
