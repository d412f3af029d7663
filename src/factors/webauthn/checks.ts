/**
 * WebAuthn input schemas and response checks shared by registration, second-factor and passwordless
 * ceremonies (see index.ts for the ceremony rules).
 */
import { z } from 'zod';
import type { AuthenticatorTransport } from '@simplewebauthn/server';
import { AppError } from '../../errors/index.js';
import type { FactorRecord } from '../../store/repos/factors.js';
export interface StoredChallenge {
  challenge: string;
  userId?: string;
  /** Credential ids offered in allowCredentials (second-factor ceremonies). */
  allow?: string[];
}

export const b64url = z
  .string()
  .min(1)
  .max(65_536)
  .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');

export const credentialId = z
  .string()
  .min(1)
  .max(1023)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');

export const registrationResponseSchema = z
  .looseObject({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.looseObject({
      clientDataJSON: b64url,
      attestationObject: b64url,
      transports: z.array(z.string().max(32)).max(16).optional(),
    }),
    clientExtensionResults: z.record(z.string(), z.unknown()).optional().default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .refine((r) => r.id === r.rawId, { message: 'id and rawId differ', path: ['rawId'] });

export const authenticationResponseSchema = z
  .looseObject({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.looseObject({
      clientDataJSON: b64url,
      authenticatorData: b64url,
      signature: b64url,
      userHandle: z.string().max(1024).regex(/^[A-Za-z0-9_-]*={0,2}$/).nullable().optional(),
    }),
    clientExtensionResults: z.record(z.string(), z.unknown()).optional().default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .refine((r) => r.id === r.rawId, { message: 'id and rawId differ', path: ['rawId'] });

export const nameSchema = z.string().trim().min(1, 'Enter a name').max(60, 'At most 60 characters');

export const startEnrollmentInput = z.object({ name: nameSchema.optional() });
export const finishEnrollmentInput = z.object({
  response: registrationResponseSchema,
  name: nameSchema.optional().default('Passkey'),
});
export const verifyInput = z.object({ response: authenticationResponseSchema });

export function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = String(issue.path[0] ?? '');
    const where = issue.path.join('.');
    throw new AppError('invalid_form', where ? `${where}: ${issue.message}` : issue.message, field || undefined);
  }
  return result.data;
}

/** Maps a library verification error to a safe, user-facing detail (the raw message stays in `cause`). */
export function failure(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  let detail = 'The security key or passkey could not be verified.';
  if (/counter/i.test(msg)) detail = 'The authenticator signature counter did not increase (counter check failed); the authenticator may have been cloned.';
  else if (/user verification/i.test(msg)) detail = 'This sign-in needs user verification (PIN or biometric) on your authenticator.';
  else if (/not present|presence/i.test(msg)) detail = 'The authenticator did not confirm user presence.';
  else if (/origin/i.test(msg)) detail = 'The response came from an unexpected website.';
  else if (/RP ID/i.test(msg)) detail = 'The response was made for a different website.';
  return new AppError('webauthn_failed', detail, undefined, { cause: err });
}

export const counterFailure = () =>
  new AppError('webauthn_failed', 'The authenticator signature counter did not increase (counter check failed); the authenticator may have been cloned.');

/** The WebAuthn user handle: the UTF-8 bytes of our user id, stable for the user's lifetime. */
export function userHandleBytes(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, 'utf8'));
}

export function userHandleMatches(userHandle: string, userId: string): boolean {
  try {
    return Buffer.from(userHandle, 'base64url').equals(Buffer.from(userId, 'utf8'));
  } catch {
    return false;
  }
}

/** Refuses responses made inside a cross-origin iframe (we never embed our ceremonies). */
export function assertNotCrossOrigin(clientDataJSON: string): void {
  let data: { crossOrigin?: unknown; topOrigin?: unknown };
  try {
    data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as typeof data;
  } catch (err) {
    throw new AppError('webauthn_failed', undefined, undefined, { cause: err });
  }
  if (!data || typeof data !== 'object') throw new AppError('webauthn_failed');
  if (data.crossOrigin === true || data.topOrigin !== undefined) {
    throw new AppError('webauthn_failed', 'The response came from an embedded page on another website.');
  }
}

export const metaTransports = (f: FactorRecord): AuthenticatorTransport[] =>
  Array.isArray(f.meta.transports) ? (f.meta.transports as AuthenticatorTransport[]) : [];

/**
 * amr for a WebAuthn assertion (RFC 8176):
 * - 'swk' (software-secured key) when the credential is a synced passkey (credentialDeviceType 'multiDevice',
 *   i.e. backup-eligible: the private key can leave the device) or a platform authenticator (transports
 *   include 'internal', or 'hybrid' = a phone's platform passkey used over caBLE);
 * - otherwise 'hwk' (hardware-secured key): a device-bound roaming security key (usb/nfc/ble).
 * Plus 'user' when the authenticator performed user verification (PIN or biometric), which makes the
 * passkey a multi-factor authenticator on its own.
 */
export function webauthnAmr(input: { deviceType: string | null | undefined; transports: readonly string[]; userVerified: boolean }): string[] {
  const software = input.deviceType === 'multiDevice' || input.transports.includes('internal') || input.transports.includes('hybrid');
  const amr = [software ? 'swk' : 'hwk'];
  if (input.userVerified) amr.push('user');
  return amr;
}
