/**
 * E-mail verification, for a new account and for an e-mail change: a single-use link (c.links, purpose
 * 'verify_email', 24 h) mailed to the address to confirm. Opening it shows a confirmation page; its POST
 * redeems the link (atomic: one of two parallel posts wins). Only the newest link of a user works: each issue
 * replaces the user's pending record, and redeeming checks the link's nonce against it — so a second change
 * request voids the first one's link.
 *
 * An e-mail change takes effect only when the link sent to the NEW address is used; then the old address is
 * told (security notice email_changed). The link never signs anyone in.
 */
import { randomToken } from '../security/crypto.js';
import { normaliseEmail } from '../store/repos/users.js';
import type { Container } from '../container.js';

export const VERIFY_LINK_TTL_SECONDS = 24 * 3600;
const PENDING_PREFIX = 'verify_email_pending:';

/** What the link's grant holds: the address to confirm and, for a change, the address it replaces. */
export interface VerifyLinkData {
  email: string;
  from?: string;
  nonce: string;
}

/** The newest verification a user is waiting for (shown on /account). */
export interface PendingVerification {
  email: string;
  change: boolean;
  nonce: string;
}

type Deps = Pick<Container, 'config' | 'links' | 'mailer' | 'kv' | 'users' | 'audit' | 'notices' | 'log' | 'now'>;

export type SendOutcome = 'sent' | 'off' | 'failed';

export class EmailVerification {
  constructor(private readonly c: Deps) {}

  /** Mails a verification link for the user's address, or for `newEmail` (a change). Never throws for delivery. */
  async send(user: { id: string; email: string; locale?: string | null }, opts: { newEmail?: string; ip?: string } = {}): Promise<SendOutcome> {
    const { c } = this;
    if (c.config.mail.transport === 'off') return 'off';
    const email = normaliseEmail(opts.newEmail ?? user.email);
    const change = opts.newEmail !== undefined;
    const nonce = randomToken(16);
    const data: VerifyLinkData = { email, nonce, ...(change ? { from: user.email } : {}) };
    const pending: PendingVerification = { email, change, nonce };
    await c.kv.set(`${PENDING_PREFIX}${user.id}`, JSON.stringify(pending), VERIFY_LINK_TTL_SECONDS);
    const token = await c.links.issue('verify_email', user.id, data, VERIFY_LINK_TTL_SECONDS);
    const link = `${c.config.issuer}/account/verify-email?token=${token}`;
    try {
      await c.mailer.send({ to: email, template: 'verify-email', vars: { link, change, expiresIn: '24 hours' }, userLocale: user.locale ?? null });
    } catch (err) {
      c.log.error({ userId: user.id, err: (err as Error).message }, 'verify-email: delivery failed');
      await c.audit.record({ type: 'email.verification_sent', outcome: 'failure', userId: user.id, ip: opts.ip ?? null, details: { change } });
      return 'failed';
    }
    await c.audit.record({ type: 'email.verification_sent', outcome: 'success', userId: user.id, ip: opts.ip ?? null, details: { change } });
    return 'sent';
  }

  async pending(userId: string): Promise<PendingVerification | null> {
    const raw = await this.c.kv.get(`${PENDING_PREFIX}${userId}`);
    return raw ? (JSON.parse(raw) as PendingVerification) : null;
  }

  /** The link's grant without spending it, when it is still the user's newest link; else null. */
  async peek(token: unknown): Promise<{ userId: string; data: VerifyLinkData } | null> {
    const grant = await this.c.links.peek<VerifyLinkData>('verify_email', token);
    if (!grant || !(await this.isNewest(grant.userId, grant.data))) return null;
    return { userId: grant.userId, data: grant.data };
  }

  /**
   * Spends the link and applies it. null: nothing changed (malformed, unknown, expired, used, superseded, or
   * the account's address is no longer the one the link was made for).
   */
  async confirm(token: unknown, ip: string): Promise<{ userId: string; email: string; change: boolean } | null> {
    const { c } = this;
    const grant = await c.links.redeem<VerifyLinkData>('verify_email', token);
    if (!grant) return null;
    const { userId, data } = grant;
    if (!(await this.isNewest(userId, data))) return null;
    await c.kv.del(`${PENDING_PREFIX}${userId}`);
    const user = await c.users.findById(userId);
    if (!user || user.disabled) return null;
    const now = c.now();
    if (data.from) {
      if (!(await c.users.changeEmail(userId, data.from, data.email, now))) return null;
      await c.audit.record({ type: 'email.changed', outcome: 'success', userId, ip, details: { verified: true } });
      await c.notices.send(userId, 'email_changed', { ip, at: now, details: { previousEmail: data.from, newEmail: data.email } });
      return { userId, email: data.email, change: true };
    }
    if (!(await c.users.markEmailVerified(userId, data.email, now))) return null;
    await c.audit.record({ type: 'email.verified', outcome: 'success', userId, ip });
    return { userId, email: data.email, change: false };
  }

  private async isNewest(userId: string, data: VerifyLinkData): Promise<boolean> {
    const pending = await this.pending(userId);
    return pending !== null && typeof data.nonce === 'string' && pending.nonce === data.nonce;
  }
}
