/**
 * Security notices: "this just happened on your account" mails (checklist 36, 86, 98, 132), sent to the
 * address on file through the e-mail channel. Each renders views/mail/notice-<event>.text.ejs / .html.ejs
 * in the reader's language (src/notify/mail.ts) with the product name, what happened, when (UTC), from where (IP, and the approximate location when a
 * GeoIP database is configured) and what to do if it was not the user.
 *
 * A notice NEVER holds a code or a link that signs the user in: templates link only to the account page
 * (which asks for a normal sign-in), and recovery notices to a cancel link whose only effect is to cancel.
 * Callers' details are reduced to the few fields the templates show (NOTICE_DETAILS).
 *
 * The action a notice reports has already happened: `send` never throws. A failed delivery is logged and
 * audited (`notice.failed`); with MAIL_TRANSPORT=off it is only logged.
 */
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.js';
import type { GeoIp } from '../risk/geoip.js';
import type { UsersRepo } from '../store/repos/users.js';
import type { Mailer } from './mail.js';

export type NoticeEvent =
  | 'factor_added'
  | 'factor_removed'
  | 'password_changed'
  | 'password_reset'
  | 'backup_codes_regenerated'
  | 'backup_codes_low'
  | 'new_device_sign_in'
  | 'email_changed'
  | 'recovery_started'
  | 'recovery_cancelled'
  | 'recovery_effective';

export const NOTICE_EVENTS: readonly NoticeEvent[] = [
  'factor_added',
  'factor_removed',
  'password_changed',
  'password_reset',
  'backup_codes_regenerated',
  'backup_codes_low',
  'new_device_sign_in',
  'email_changed',
  'recovery_started',
  'recovery_cancelled',
  'recovery_effective',
];

export interface NoticeContext {
  ip?: string;
  /** Epoch milliseconds; defaults to now. */
  at?: number;
  details?: Record<string, unknown>;
}

export interface SecurityNotices {
  send(userId: string, event: NoticeEvent, ctx?: NoticeContext): Promise<void>;
}

/**
 * The detail fields a template may show (strings cut to 200 characters, numbers as they are). Anything else a
 * caller passes is dropped, so a code or a sign-in URL cannot reach a mail by accident.
 * - method: the sign-in method in words ("Authenticator app"); name: the user's label for it
 * - remaining: backup codes left; device: browser and system ("Chrome on Linux")
 * - previousEmail / newEmail: e-mail change (the notice goes to previousEmail)
 * - cancelUrl: recovery_* only, must be on this issuer; effectiveAt: epoch ms (the template prints it in the
 *   reader's language, like `when`); reason: recovery reason
 */
const NOTICE_DETAILS = ['method', 'name', 'remaining', 'device', 'previousEmail', 'newEmail', 'cancelUrl', 'effectiveAt', 'reason'] as const;

export function noticeDetails(raw: Record<string, unknown> | undefined, event: NoticeEvent, issuer: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const key of NOTICE_DETAILS) {
    const v = raw?.[key];
    if (typeof v === 'number' && Number.isFinite(v)) out[key] = v;
    else if (typeof v === 'string' && v.trim() !== '') out[key] = v.replace(/[\r\n]+/g, ' ').trim().slice(0, 200);
  }
  if (typeof out.cancelUrl === 'string' && (!event.startsWith('recovery_') || !out.cancelUrl.startsWith(`${issuer}/`))) delete out.cancelUrl;
  return out;
}

export class MailSecurityNotices implements SecurityNotices {
  constructor(
    private readonly deps: {
      users: Pick<UsersRepo, 'findById'>;
      mailer: Mailer;
      audit: Pick<AuditLog, 'record'>;
      log: Logger;
      geoip: Pick<GeoIp, 'lookup'> | null;
      issuer: string;
      /** False with MAIL_TRANSPORT=off: nothing is attempted. */
      enabled: boolean;
      now: () => number;
    },
  ) {}

  async send(userId: string, event: NoticeEvent, ctx: NoticeContext = {}): Promise<void> {
    const { log } = this.deps;
    try {
      const user = await this.deps.users.findById(userId);
      if (!user) {
        log.warn({ userId, event }, 'notice: no such user, nothing sent');
        return;
      }
      const details = noticeDetails(ctx.details, event, this.deps.issuer);
      // An e-mail change is reported to the address it replaced: that is where the real owner reads.
      const to = event === 'email_changed' && typeof details.previousEmail === 'string' ? details.previousEmail : user.email;
      if (!this.deps.enabled) {
        log.info({ userId, event }, 'notice: MAIL_TRANSPORT=off, not sent');
        return;
      }
      const geo = ctx.ip ? this.deps.geoip?.lookup(ctx.ip) : null;
      const location = geo ? [geo.city, geo.country].filter(Boolean).join(', ') || null : null;
      await this.deps.mailer.send({
        to,
        template: `notice-${event}`,
        vars: { event, userName: user.name, when: ctx.at ?? this.deps.now(), ip: ctx.ip ?? null, location, d: details },
        // The language: the triggering request's, else the user's stored one (background sweeps, admin actions).
        userLocale: user.locale,
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      log.error({ userId, event, code: e.code, err: e.message }, 'notice: delivery failed');
      await this.deps.audit
        .record({ type: 'notice.failed', outcome: 'failure', userId, ip: ctx.ip ?? null, details: { event, error: e.code ?? 'error' } })
        .catch(() => undefined);
    }
  }
}
