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
 * locale is `locale` if given, else that of the request that triggered the mail, else English. In the
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
import { defaultI18n, type Translate } from '../i18n/index.js';
import { requestLocale } from '../i18n/context.js';
import type { DevOutbox } from './outbox.js';

/** nodemailer loads with the first SMTP transport: console and off never need it. */
const mailSdk = lazy<typeof nodemailer>('nodemailer');

/** File base name under views/mail/ (e.g. 'verify-email' → verify-email.text.ejs + verify-email.html.ejs). */
export type MailTemplate = string;

export interface Mailer {
  send(m: { to: string; template: MailTemplate; vars: Record<string, unknown>; locale?: string }): Promise<void>;
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
  opts: { cache?: boolean; locale?: string } = {},
): Promise<RenderedMail> {
  if (!TEMPLATE_NAME.test(template)) throw new Error(`mail: invalid template name ${JSON.stringify(template)}`);
  const i18n = defaultI18n();
  const lang = i18n.resolve(opts.locale ?? (await requestLocale()));
  const t = i18n.translator(lang);
  // Durations passed in English ("30 minutes") are looked up as sentences of the `text` namespace.
  const tx = (english: string) => i18n.text(lang, english);
  const model = { ...vars, productName: site.productName, issuer: site.issuer, accountUrl: `${site.issuer}/account`, lang, tx };
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

  async send(m: { to: string; template: MailTemplate; vars: Record<string, unknown>; locale?: string }): Promise<void> {
    const rendered = await renderMail(m.template, m.vars, this.site, { cache: this.site.cacheTemplates, locale: m.locale });
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
