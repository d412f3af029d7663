/**
 * Typed application errors. Every error a user or client can see is one of these codes;
 * src/http/error-handler.ts maps them to HTML pages, JSON problems and OIDC errors in one place.
 */
import { translateErrorMessage } from '../i18n/errors.js';

export const ERRORS = {
  invalid_request: { status: 400, message: 'The request was malformed.' },
  invalid_form: { status: 400, message: 'Some fields are missing or invalid.' },
  csrf_failed: { status: 403, message: 'Your form expired or was submitted from another page. Go back and try again.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'Unsupported content type.' },
  interaction_not_found: {
    status: 400,
    message: 'This sign-in link has expired or was already used. Return to the application and sign in again.',
  },
  invalid_credentials: { status: 401, message: 'Incorrect email or password.' },
  invalid_code: { status: 401, message: 'That code is not valid. Check it and try again.' },
  code_reused: { status: 401, message: 'That code was already used. Wait for a new code and try again.' },
  challenge_expired: { status: 400, message: 'This verification request expired. Start again.' },
  webauthn_failed: { status: 401, message: 'The security key or passkey could not be verified.' },
  too_many_attempts: { status: 429, message: 'Too many attempts. Wait a while and try again.' },
  not_authenticated: { status: 401, message: 'Sign in to continue.' },
  reauth_required: { status: 401, message: 'Confirm it is you to continue.' },
  forbidden: { status: 403, message: 'You are not allowed to do that.' },
  not_found: { status: 404, message: 'Not found.' },
  conflict: { status: 409, message: 'That conflicts with the current state.' },
  factor_pending: { status: 409, message: 'Finish setting up the authenticator you already started first.' },
  last_factor: { status: 409, message: 'This is your last second factor and your account requires one.' },
  sms_number_rejected: { status: 400, message: 'We could not send a text message to that number. Check the number, or use another sign-in method.' },
  sms_rate_limited: { status: 429, message: 'Too many text messages are being sent right now. Wait a few minutes and try again, or use another sign-in method.' },
  sms_failed: { status: 503, message: 'Text messages cannot be sent right now. Try again later, or use another sign-in method.' },
  mail_failed: { status: 503, message: 'E-mail cannot be sent right now. Try again later.' },
  push_pending: { status: 409, message: 'Approve the request on your phone first, then continue.' },
  push_denied: { status: 403, message: 'The request was denied on your phone. Use another method to sign in.' },
  store_unavailable: { status: 503, message: 'The service is temporarily unavailable. Try again in a moment.' },
  internal: { status: 500, message: 'Something went wrong on our side.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    /** Safe, user-facing detail that overrides the default message. */
    readonly detail?: string,
    /** Form field the error belongs to, so views can show it next to the field. */
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(detail ?? ERRORS[code].message, options);
    this.status = ERRORS[code].status;
  }
  /** In the request's language when there is one (src/i18n/errors.ts), else the English text. */
  get publicMessage(): string {
    return translateErrorMessage(this.code, this.detail) ?? this.detail ?? ERRORS[this.code].message;
  }
}

/** Errors from a database or Redis connection that mean "down", not "bad data". */
export function isStoreOutage(err: unknown): boolean {
  if (err instanceof AppError) return err.code === 'store_unavailable';
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  if (!e) return false;
  const codes = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P03', '53300', 'SQLITE_BUSY', 'SQLITE_CANTOPEN'];
  if (e.code && codes.includes(e.code)) return true;
  if (e.name === 'KnexTimeoutError' || e.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|Stream isn't writeable|connect ECONNREFUSED|Connection terminated|Unable to acquire a connection/i.test(
    e.message ?? '',
  );
}

/**
 * PostgreSQL refuses text it cannot store (a NUL byte, 22021; an untranslatable character, 22P05). Such
 * text comes only from a request, never from us: the request is bad, and nothing stored can match it.
 */
export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === '22021' || code === '22P05';
}

/** Wraps a store call so an outage surfaces as AppError('store_unavailable'), never a raw driver error. */
export async function guardStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isStoreOutage(err)) throw new AppError('store_unavailable', undefined, undefined, { cause: err });
    throw err;
  }
}
