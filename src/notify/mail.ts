/**
 * The e-mail channel: templates under views/mail/ rendered with EJS, delivered by nodemailer over SMTP, or
 * by the console transport of embedded and development setups (server output + the /dev/outbox page).
 *
 * Templates. `template: 'verify-email'` renders views/mail/verify-email.text.ejs and
 * views/mail/verify-email.html.ejs with `vars` plus `productName`, `issuer` and `accountUrl`. The SUBJECT is
 * the text template's first line, written `Subject: …` and followed by a blank line (the line is removed
 * from the text body). The HTML template holds only the body: it is wrapped in views/mail/_layout.html.ejs.
 * EJS escapes `<%= %>` for HTML; the text templates use `<%- %>` (no HTML escaping in plain text).
 *
 * Language (issue 13). Every sentence comes from the `mail.*` catalog keys through `t(key, vars)`; the
 * locale is the first supported of: `locale` if given, the language the triggering request asked for
 * (not an admin's request: see onBehalfOfUsers), the recipient's stored language (`userLocale`,
 * users.locale), English. Dates are passed as epoch milliseconds and printed by `date(ms)`: English keeps
 * "2026-12-02 08:00 UTC", other languages get Intl.DateTimeFormat in UTC ("02.12.2026, 08:00 UTC"). In the
 * HTML templates `t` escapes the string values it interpolates (a catalog sentence may hold markup such as
 * a link), so they print it with `<%- t(…) %>`; in the text templates nothing is escaped.
 */
import { resolve } from 'node:path';
import ejs from 'ejs';
import type nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { lazy } from '../lazy.js';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { MailConfig } from '../config/mail.js';
import { AppError } from '../errors/index.js';
import { VIEWS_DIR } from '../paths.js';
import { DEFAULT_LOCALE, defaultI18n, type Translate } from '../i18n/index.js';
import { preferredRequestLocale } from '../i18n/context.js';
import type { DevOutbox } from './outbox.js';

/** nodemailer loads with the first SMTP transport: console and off never need it. */
const mailSdk = lazy<typeof nodemailer>('nodemailer');

/** File base name under views/mail/ (e.g. 'verify-email' → verify-email.text.ejs + verify-email.html.ejs). */
export type MailTemplate = string;

export interface OutgoingMail {
  to: string;
  template: MailTemplate;
  vars: Record<string, unknown>;
  /** Explicit language (wins over everything). */
  locale?: string;
  /** The recipient's stored language (users.locale), used when the triggering request states none. */
  userLocale?: string | null;
}

export interface Mailer {
  send(m: OutgoingMail): Promise<void>;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const TEMPLATE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAIL_DIR = resolve(VIEWS_DIR, 'mail');

/** Renders a template pair; throws on an unknown template or a template without a `Subject:` line. */
export async function renderMail(
  template: MailTemplate,
  vars: Record<string, unknown>,
  site: { productName: string; issuer: string },
  opts: { cache?: boolean; locale?: string; userLocale?: string | null } = {},
): Promise<RenderedMail> {
  if (!TEMPLATE_NAME.test(template)) throw new Error(`mail: invalid template name ${JSON.stringify(template)}`);
  const i18n = defaultI18n();
  const lang = i18n.firstSupported(opts.locale, await preferredRequestLocale(), opts.userLocale) ?? DEFAULT_LOCALE;
  const t = i18n.translator(lang);
  // Durations passed in English ("30 minutes") are looked up as sentences of the `text` namespace, and a
  // sign-in method's English label ("Authenticator app") as its `factor.<kind>` message.
  const tx = (english: string) => {
    const kind = factorKindOf(i18n, english);
    return kind ? t(`factor.${kind}`) : i18n.text(lang, english);
  };
  const date = (value: unknown) => formatMailDate(value, lang);
  // "Chrome on Linux" (src/risk/collector.ts) in the reader's words.
  const device = (value: unknown) => {
    const m = typeof value === 'string' ? /^(.+) on (.+)$/.exec(value) : null;
    return m ? t('device.on', { browser: m[1], os: m[2] }) : String(value ?? '');
  };
  const model = { ...vars, productName: site.productName, issuer: site.issuer, accountUrl: `${site.issuer}/account`, lang, tx, date, device };
  const ejsOpts = { cache: opts.cache ?? false, async: true, root: VIEWS_DIR, views: [VIEWS_DIR] };
  const [rawText, htmlBody] = await Promise.all([
    ejs.renderFile(resolve(MAIL_DIR, `${template}.text.ejs`), { ...model, t }, ejsOpts),
    ejs.renderFile(resolve(MAIL_DIR, `${template}.html.ejs`), { ...model, t: escapingValues(t), markup: (html: string) => new Markup(html) }, ejsOpts),
  ]);
  const match = /^Subject: *([^\r\n]+)\r?\n(?:\r?\n)?/.exec(rawText);
  if (!match) throw new Error(`mail: views/mail/${template}.text.ejs must start with a "Subject: …" line`);
  const subject = match[1]!.trim();
  const html = await ejs.renderFile(resolve(MAIL_DIR, '_layout.html.ejs'), { ...model, t: escapingValues(t), subject, body: htmlBody }, ejsOpts);
  return { subject, text: `${rawText.slice(match[0].length).trim()}\n`, html };
}

/** The factor kind whose English label is `label` (locales/en.json `factor.*`), if any. */
function factorKindOf(i18n: ReturnType<typeof defaultI18n>, label: string): string | undefined {
  const labels = (i18n.catalogs[DEFAULT_LOCALE]?.translation as { factor?: Record<string, unknown> } | undefined)?.factor ?? {};
  return Object.keys(labels).find((k) => labels[k] === label);
}

/** English mails keep the unambiguous "YYYY-MM-DD HH:MM UTC". */
export const utcMinutes = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * A date in a mail: epoch ms printed in the reader's language and UTC (English: utcMinutes; others:
 * Intl.DateTimeFormat, e.g. "02.12.2026, 08:00 UTC" / "2 déc. 2026, 08:00 UTC"). A string is printed as it
 * is (already formatted by the caller).
 */
export function formatMailDate(value: unknown, lang: string): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'number' || !Number.isFinite(value)) return '';
  if (lang === DEFAULT_LOCALE) return utcMinutes(value);
  let f = dateFormats.get(lang);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC', hourCycle: 'h23' });
    } catch {
      return utcMinutes(value); // an operator's language tag Intl does not take
    }
    dateFormats.set(lang, f);
  }
  return `${f.format(value)} UTC`;
}

/** HTML already escaped (a translated fragment), passed whole through the escaping `t` of the HTML templates. */
class Markup {
  constructor(readonly html: string) {}
}

/** A `t` for HTML: string values are HTML-escaped before interpolation; the catalog sentence is trusted markup. */
function escapingValues(t: Translate): Translate {
  return (key, options) => {
    if (!options) return t(key);
    const safe = Object.fromEntries(
      Object.entries(options).map(([k, v]) => [k, v instanceof Markup ? v.html : typeof v === 'string' ? ejs.escapeXML(v) : v]),
    );
    return t(key, safe);
  };
}

interface MailSite {
  productName: string;
  issuer: string;
  from: string;
  cacheTemplates: boolean;
}

abstract class TemplateMailer implements Mailer {
  constructor(protected readonly site: MailSite) {}

  async send(m: OutgoingMail): Promise<void> {
    const rendered = await renderMail(m.template, m.vars, this.site, { cache: this.site.cacheTemplates, locale: m.locale, userLocale: m.userLocale });
    await this.deliver(m.to, rendered, m.template);
  }

  protected abstract deliver(to: string, mail: RenderedMail, template: MailTemplate): Promise<void>;
}

/** nodemailer over SMTP. A refused or failed delivery is AppError('mail_failed'); the log says why. */
export class SmtpMailer extends TemplateMailer {
  private readonly transport: Transporter;

  constructor(
    site: MailSite,
    url: string,
    private readonly log?: Logger,
  ) {
    super(site);
    // Short timeouts: a hung relay must not hold a user's request for nodemailer's default minutes.
    this.transport = mailSdk().createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 });
  }

  protected async deliver(to: string, mail: RenderedMail, template: MailTemplate): Promise<void> {
    try {
      const info = await this.transport.sendMail({
        from: this.site.from,
        to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: { 'X-Stepwise-Template': template, 'Auto-Submitted': 'auto-generated' },
      });
      this.log?.info({ template, messageId: info.messageId, response: info.response }, 'mail: sent');
    } catch (err) {
      const e = err as { code?: string; responseCode?: number; message?: string };
      this.log?.error({ template, code: e.code, responseCode: e.responseCode, err: e.message }, 'mail: smtp delivery failed');
      throw new AppError('mail_failed', undefined, undefined, { cause: err });
    }
  }

  close(): void {
    this.transport.close();
  }
}

/**
 * Prints each message (subject and text body) to the server's standard error — so `stepwise` CLI verbs keep
 * clean JSON on standard output — and keeps it in the development outbox.
 */
export class ConsoleMailer extends TemplateMailer {
  constructor(
    site: MailSite,
    private readonly opts: { outbox?: DevOutbox; write?: (text: string) => void } = {},
  ) {
    super(site);
  }

  protected async deliver(to: string, mail: RenderedMail): Promise<void> {
    const text = `[mail] to ${to}: ${mail.subject}\n${mail.text.replace(/^/gm, '  | ')}`;
    (this.opts.write ?? ((t: string) => process.stderr.write(`${t}\n`)))(text);
    this.opts.outbox?.add({ channel: 'email', to, subject: mail.subject, body: mail.text });
  }
}

/** MAIL_TRANSPORT=off: nothing is sent. */
export class DisabledMailer implements Mailer {
  async send(): Promise<void> {
    throw new AppError('mail_failed', 'E-mail is not set up on this server.');
  }
}

/** The configured mailer. `mail.transport` tells callers whether mails can go out at all ('off'). */
export function buildMailer(config: Pick<Config, 'env' | 'issuer' | 'webauthn'> & { mail: MailConfig }, deps: { outbox?: DevOutbox; log?: Logger; write?: (text: string) => void } = {}): Mailer & { close?(): void } {
  const site: MailSite = { productName: config.webauthn.rpName, issuer: config.issuer, from: config.mail.from, cacheTemplates: config.env !== 'development' };
  switch (config.mail.transport) {
    case 'smtp':
      return new SmtpMailer(site, config.mail.url, deps.log);
    case 'console':
      // Under NODE_ENV=test the "printed" mail goes to the (usually silent) log instead of the test output.
      return new ConsoleMailer(site, {
        outbox: deps.outbox,
        write: deps.write ?? (config.env === 'test' ? (text: string) => deps.log?.debug({ mail: text }, 'mail: console transport') : undefined),
      });
    case 'off':
      return new DisabledMailer();
  }
}
