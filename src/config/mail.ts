/**
 * Configuration of the e-mail channel (src/notify/mail.ts), parsed from the same cleaned environment as
 * the rest of src/config/index.ts.
 *
 * - MAIL_TRANSPORT=console (the default outside production): each message is printed to the server output
 *   and kept in the development outbox (/dev/outbox). Refused when NODE_ENV=production: mails carry
 *   verification and reset links.
 * - MAIL_TRANSPORT=smtp (the default when SMTP_URL is set): nodemailer over SMTP_URL
 *   (`smtp://user:pass@host:587`, `smtps://…:465`; nodemailer options may follow as query parameters,
 *   e.g. `?requireTLS=true`). Needs MAIL_FROM.
 * - MAIL_TRANSPORT=off (the default in production without SMTP_URL): nothing is sent; security notices are
 *   logged and audited as undelivered, features that need a mail (verification) say so.
 */
import { z } from 'zod';

export type MailConfig =
  | { transport: 'console' | 'off'; from: string }
  | { transport: 'smtp'; url: string; from: string };

/** `user@example.com` or `Display Name <user@example.com>`. */
const FROM = /^([^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/;

const mailEnvSchema = z.object({
  MAIL_TRANSPORT: z.enum(['smtp', 'console', 'off']).optional(),
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'an smtp:// or smtps:// URL, e.g. smtp://user:password@mail.example.com:587' }).optional(),
  MAIL_FROM: z
    .string()
    .regex(FROM, 'an address (no-reply@example.com) or "Name <no-reply@example.com>"')
    .optional(),
});

/** `fail` is the caller's ConfigError factory (one error type for every configuration problem). */
export function mailConfig(source: Record<string, string | undefined>, env: 'development' | 'production' | 'test', fail: (message: string) => Error): MailConfig {
  const result = mailEnvSchema.safeParse(source);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = issue.path.join('.');
    // SMTP_URL may hold a password: never echo it.
    const shown = name === 'SMTP_URL' ? '' : source[name] !== undefined ? ` (got ${JSON.stringify(source[name])})` : '';
    throw fail(`${name}: ${issue.message}${shown}`);
  }
  const m = result.data;
  const production = env === 'production';
  const transport = m.MAIL_TRANSPORT ?? (m.SMTP_URL ? 'smtp' : production ? 'off' : 'console');
  if (transport === 'console' && production) {
    throw fail('MAIL_TRANSPORT: console prints verification and reset links to the server output and is refused when NODE_ENV=production; set MAIL_TRANSPORT=smtp with SMTP_URL and MAIL_FROM, or MAIL_TRANSPORT=off');
  }
  if (transport !== 'smtp') return { transport, from: m.MAIL_FROM ?? 'Stepwise <no-reply@localhost>' };
  const missing = [m.SMTP_URL ? null : 'SMTP_URL', m.MAIL_FROM ? null : 'MAIL_FROM'].filter((x): x is string => x !== null);
  if (missing.length > 0) throw fail(`MAIL_TRANSPORT: smtp needs ${missing.join(' and ')}`);
  return { transport, url: m.SMTP_URL!, from: m.MAIL_FROM! };
}

