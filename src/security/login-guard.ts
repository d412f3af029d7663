/**
 * Which throttles a first-factor sign-in attempt is counted on, decided before the secret is checked:
 *
 * - every attempt: per client IP;
 * - from a browser that has signed in to this account before (risk/known-browser.ts): per account+device only —
 *   exempt from the per-account cap and the stranger delays, so an attacker cannot lock the real user out;
 * - from any other browser ("stranger"): per account+IP, per account (all strangers together, capped per
 *   NIST 800-63B-4 §3.2.2), and — past the first `freeFailures` attempts in the window — the stranger gate:
 *   one check at a time. Every stranger failure past the free ones closes the gate for a growing delay
 *   (`strangerDelaySeconds` of the exact failure count, loginStrangerFailures).
 *
 * Counting and refunding is `Attempt` (security/rate-limit.ts), shared with the second factors.
 */
import type { Context } from 'koa';
import type { UsersRepo } from '../store/repos/users.js';
import { normaliseEmail } from '../store/repos/users.js';
import { deviceHandle, type KnownBrowsers } from '../risk/known-browser.js';
import { AppError } from '../errors/index.js';
import { Attempt, strangerDelaySeconds, throttled, type StrangerDelayRule, type Throttle, type ThrottleName } from './rate-limit.js';

export type LoginThrottles = Record<Exclude<ThrottleName, 'factorAccount'>, Throttle>;

export interface LoginGuardDeps {
  throttles: LoginThrottles;
  strangerDelay: StrangerDelayRule;
  knownBrowsers: KnownBrowsers;
  users: UsersRepo;
}

const wrongPassword = (err: unknown) => err instanceof AppError && err.code === 'invalid_credentials';
const wrongPasskey = (err: unknown) => err instanceof AppError && (err.code === 'webauthn_failed' || err.code === 'challenge_expired');

export class LoginGuard {
  constructor(private readonly deps: LoginGuardDeps) {}

  /**
   * Runs a password check for `email` under the sign-in throttles.
   * @throws ThrottledError (too_many_attempts) before any check when a rule refuses; the check's own errors.
   */
  async password<T>(ctx: Context, email: string, check: () => Promise<T>): Promise<T> {
    const { throttles: t, strangerDelay } = this.deps;
    const account = normaliseEmail(email);
    const device = await this.knownDevice(ctx, account);
    const attempt = new Attempt();
    await attempt.charge({ throttle: t.loginIp, key: ctx.ip, onSuccess: 'refund' });
    if (device) {
      await attempt.charge({ throttle: t.loginAccountDevice, key: `${account}|${deviceHandle(device)}`, onSuccess: 'reset' });
    } else {
      await attempt.charge({ throttle: t.loginAccountIp, key: `${account}|${ctx.ip}`, onSuccess: 'reset' });
      // A stranger's success is refunded, not reset: it must not wipe the attacker's record for other strangers.
      let holdsGate = false;
      const count = await attempt.charge({
        throttle: t.loginAccount,
        key: account,
        onSuccess: 'refund',
        onFailure: () => this.strangerFailed(account, holdsGate),
      });
      if (count > strangerDelay.freeFailures) {
        await attempt.charge({ throttle: t.loginStrangerGate, key: account, onSuccess: 'reset', onRelease: 'reset' });
        holdsGate = true;
      }
    }
    return attempt.run(check, wrongPassword);
  }

  /** Runs a passkey-first check (the credential names the account only once verified): per client IP. */
  async passkey<T>(ctx: Context, check: () => Promise<T>): Promise<T> {
    return throttled([{ throttle: this.deps.throttles.loginIp, key: ctx.ip, onSuccess: 'refund' }], check, wrongPasskey);
  }

  /** This browser's device id when the account has signed in from it before, else null. */
  private async knownDevice(ctx: Context, account: string): Promise<string | null> {
    const deviceId = this.deps.knownBrowsers.read(ctx);
    if (!deviceId) return null;
    const user = await this.deps.users.findByEmail(account);
    return user && (await this.deps.knownBrowsers.isKnownFor(deviceId, user.id)) ? deviceId : null;
  }

  /**
   * After any stranger failure: count it, and once past the free ones close the gate for the delay this
   * failure count calls for (overriding a hold); a gate this attempt held is otherwise opened again.
   */
  private async strangerFailed(account: string, holdsGate: boolean): Promise<void> {
    const { throttles: t, strangerDelay } = this.deps;
    const seconds = strangerDelaySeconds(await t.loginStrangerFailures.count(account), strangerDelay);
    if (seconds > 0) await t.loginStrangerGate.block(account, seconds);
    else if (holdsGate) await t.loginStrangerGate.reset(account);
  }
}
