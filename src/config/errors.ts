/**
 * How configuration is refused: ConfigError (one line naming the variable), and how a rejected value is
 * shown in it without leaking a secret or a database password.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Variables whose values are never echoed in errors (keys, secrets, tokens, passwords)... */
const SECRET_NAME = /SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL/i;
/** ...except settings *about* them: a duration, a length or a file path (e.g. PASSWORD_MIN_LENGTH). */
const ABOUT_A_SECRET = /_(SECONDS|LENGTH|FILE)$/i;

/** `postgres://user:pw@host/db` → `postgres://user:***@host/db` (a user without a password is hidden too). */
export function redactUrlCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}***@`;
  });
}

/** How a rejected value is shown in a configuration error: quoted, credentials redacted, secrets only by length. */
export function describeRejected(name: string, value: string): string {
  if (SECRET_NAME.test(name) && !ABOUT_A_SECRET.test(name)) return `(got a value of ${value.length} characters)`;
  return `(got ${JSON.stringify(redactUrlCredentials(value))})`;
}
