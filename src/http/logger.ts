/**
 * The root logger: pino JSON, the request id of the current request on every line (AsyncLocalStorage,
 * src/http/request-id.ts), and redaction of fields that may hold a password, code, secret or token — the
 * last line of defence; the first is not logging bodies, queries or URLs at all.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { currentRequestId } from './request-id.js';

const SECRET_FIELDS = [
  'password',
  'newPassword',
  'currentPassword',
  'code',
  'otp',
  'secret',
  'client_secret',
  'clientSecret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'id_token_hint',
  'logout_token',
  'authorization',
  'cookie',
  'set-cookie',
  'body',
  'query',
  'url',
  'totpSecret',
  'seed',
  'location',
];

/** Each field at the top level and one and two levels down (`req.headers.cookie`, `err.config.body`…). */
export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`;
  const sep = key.startsWith('[') ? '' : '.';
  return [key, `*${sep}${key}`, `*.*${sep}${key}`];
});

const CENSOR = '[redacted]';

/**
 * `code` is also what errors call their errno/status (ECONNREFUSED, SQLITE_BUSY, 550): those stay readable;
 * anything else under `code` — a one-time code, an authorization code — is censored like the rest.
 */
function censor(value: unknown, path: string[]): unknown {
  if (path[path.length - 1] === 'code') {
    if (typeof value === 'number' && value < 1000) return value;
    if (typeof value === 'string' && /^(E[A-Z]{2,}|ERR_[A-Z0-9_]+|[A-Z]+_[A-Z0-9_]+|\d{3})$/.test(value) && !/^\d{4,}$/.test(value)) return value;
  }
  return CENSOR;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACT_PATHS, censor },
    // A fresh object each time: pino merges the line's fields into what the mixin returns.
    mixin: () => {
      const reqId = currentRequestId();
      return reqId ? { reqId } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
