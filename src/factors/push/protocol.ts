/**
 * The push-approval wire protocol, shared by the server and the reference device (device-client.ts). Pure:
 * no I/O, no clock (times are passed in).
 *
 * - Enrollment token: base64url(JSON {"iss": issuer URL, "t": 32 random bytes, base64url}); the server keeps
 *   only SHA-256(t), for 10 minutes, and consumes it on first use.
 * - Device key: an ECDSA P-256 key pair made on the device; the server stores the public JWK only.
 * - Answer signature: ES256 (ECDSA P-256 + SHA-256, raw r||s, base64url — the JWS encoding) over
 *   `canonicalAnswer()`:
 *
 *       stepwise-push-v1 LF <challenge id> LF <approve|deny> LF <number, "" for deny> LF <uv|no-uv>
 *
 *   Every field is drawn from a small alphabet without LF, so the string is unambiguous.
 * - Number matching: the sign-in page shows a 2-digit number (10–99); an approval must carry the same number.
 *   The number is never sent to the device (the user must read it from the page).
 */
import { createHash, createPublicKey, randomInt, sign, verify, type KeyObject } from 'node:crypto';

export const SIGNATURE_CONTEXT = 'stepwise-push-v1';
/** A push challenge is answerable for 2 minutes. */
export const CHALLENGE_TTL_SECONDS = 120;
/** An enrollment token is valid for 10 minutes. */
export const ENROLLMENT_TTL_SECONDS = 600;

export type Decision = 'approve' | 'deny';

export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
export const CHALLENGE_ID = /^[A-Za-z0-9_-]{16,64}$/;
export const NUMBER = /^[0-9]{2}$/;

export interface AnswerFields {
  challengeId: string;
  decision: Decision;
  /** The 2-digit number for an approval; "" for a denial (the user need not read the page to refuse). */
  number: string;
  /** The app verified its user (biometric / device PIN) before answering. */
  userVerified: boolean;
}

/** The exact bytes a device signs. Throws on a field that could make the string ambiguous. */
export function canonicalAnswer(a: AnswerFields): string {
  if (!CHALLENGE_ID.test(a.challengeId)) throw new Error('invalid challenge id');
  if (a.decision !== 'approve' && a.decision !== 'deny') throw new Error('invalid decision');
  if (a.decision === 'approve' ? !NUMBER.test(a.number) : a.number !== '' && !NUMBER.test(a.number)) throw new Error('invalid number');
  return [SIGNATURE_CONTEXT, a.challengeId, a.decision, a.number, a.userVerified ? 'uv' : 'no-uv'].join('\n');
}

/** ES256 signature (raw r||s, base64url) by the device's private key. */
export function signAnswer(privateKey: KeyObject, a: AnswerFields): string {
  return sign('sha256', Buffer.from(canonicalAnswer(a), 'utf8'), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
}

/** True only for a valid ES256 signature of exactly these fields by this public key. Never throws. */
export function verifyAnswer(publicKey: PublicJwk, a: AnswerFields, signature: string): boolean {
  if (typeof signature !== 'string' || !B64URL.test(signature)) return false;
  const sig = Buffer.from(signature, 'base64url');
  if (sig.length !== 64) return false;
  try {
    const key = createPublicKey({ key: { ...publicKey }, format: 'jwk' });
    return verify('sha256', Buffer.from(canonicalAnswer(a), 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

/** A fresh 2-digit number for the page (CSPRNG, 10–99: no leading zero to misread). */
export function newNumber(): string {
  return String(randomInt(10, 100));
}

/** The number the device sent matches the page's. Accepts "42" and 42; anything else is a mismatch. */
export function numberMatches(expected: string, given: unknown): boolean {
  const g = typeof given === 'number' && Number.isInteger(given) ? String(given) : given;
  return typeof g === 'string' && NUMBER.test(g) && NUMBER.test(expected) && g === expected;
}

/** Whether something with this expiry (epoch ms) is still valid at `nowMs`. */
export function isLive(expiresAt: number, nowMs: number): boolean {
  return Number.isFinite(expiresAt) && nowMs < expiresAt;
}

/**
 * Validates a device public key: an EC P-256 public JWK (a private key — `d` — is refused: it must never
 * leave the device), a point on the curve. Returns the normalised JWK, or null.
 */
export function parsePublicJwk(value: unknown): PublicJwk | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const j = value as Record<string, unknown>;
  if ('d' in j) return null;
  if (j.kty !== 'EC' || j.crv !== 'P-256' || typeof j.x !== 'string' || typeof j.y !== 'string') return null;
  if (!B64URL.test(j.x) || !B64URL.test(j.y)) return null;
  if (Buffer.from(j.x, 'base64url').length !== 32 || Buffer.from(j.y, 'base64url').length !== 32) return null;
  const jwk: PublicJwk = { kty: 'EC', crv: 'P-256', x: j.x, y: j.y };
  try {
    createPublicKey({ key: { ...jwk }, format: 'jwk' });
  } catch {
    return null;
  }
  return jwk;
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export function jwkThumbprint(jwk: PublicJwk): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');
}

export interface EnrollmentToken {
  /** The issuer the device registers with. */
  iss: string;
  /** The random secret (base64url). */
  t: string;
}

export function encodeEnrollmentToken(token: EnrollmentToken): string {
  return Buffer.from(JSON.stringify({ iss: token.iss, t: token.t }), 'utf8').toString('base64url');
}

/** Decodes a token (whitespace around it is ignored); null when it is not one. */
export function decodeEnrollmentToken(raw: unknown): EnrollmentToken | null {
  if (typeof raw !== 'string') return null;
  const s = raw.trim();
  if (s.length === 0 || s.length > 1000 || !B64URL.test(s)) return null;
  try {
    const parsed = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof parsed.iss !== 'string' || typeof parsed.t !== 'string') return null;
    const url = new URL(parsed.iss);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    if (!B64URL.test(parsed.t) || Buffer.from(parsed.t, 'base64url').length < 32) return null;
    return { iss: parsed.iss.replace(/\/$/, ''), t: parsed.t };
  } catch {
    return null;
  }
}

/** SHA-256 (base64url) of a secret: what the server stores for enrollment secrets and device credentials. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

/** What a device is told about a pending challenge (pull endpoint and FCM data message). Never the number. */
export interface ChallengeNotice {
  id: string;
  /** Name of the application being signed in to. */
  client: string;
  /** The sign-in's IP address and, when known, place. */
  ip: string;
  location: string;
  /** ISO 8601 times. */
  time: string;
  expiresAt: string;
}
