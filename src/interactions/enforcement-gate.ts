/**
 * MFA enforcement inside a sign-in (policy `mfa_enforcement`), for a user who reached the level without a
 * second factor: during the grace period a notice at most once a day per browser ("Set up now" / "Later");
 * after it, the sign-in continues only through enrolling one (enroll-then-continue). The decision itself
 * is the pure `enforcement()` of src/risk/enforcement.ts; this step reads its inputs and keeps its state.
 */
import type { Context } from 'koa';
import type { InteractionDetails } from './routes.js';
import type { AuthContext, AuthContextStore } from './auth-context.js';
import type { UsersRepo, User } from '../store/repos/users.js';
import type { FactorService } from '../factors/service.js';
import type { RiskPolicy } from '../risk/types.js';
import { readAccountAssurance } from '../factors/assurance.js';
import { enforcement, type EnforcementOutcome } from '../risk/enforcement.js';
import { AppError } from '../errors/index.js';

/** The notice was shown in this browser on this (UTC) day. */
const MFA_NOTICE_COOKIE = 'stepwise_mfa_notice';

export interface EnforcementGateDeps {
  users: UsersRepo;
  factorService: FactorService;
  authContexts: AuthContextStore;
  policy: () => RiskPolicy;
  now: () => number;
  /** A used admin recovery removed the old factors: a new one is required first (src/recovery/enrollment.ts). */
  recoveryEnrollment?: { required(userId: string, secondFactors: number): Promise<boolean> };
}

export class EnforcementGate {
  constructor(private readonly deps: EnforcementGateDeps) {}

  private outcomeFor(user: User, secondFactors: number): EnforcementOutcome {
    const first = user.firstSignInAt === null ? null : Math.floor(user.firstSignInAt / 1000);
    return enforcement({ secondFactors, serviceAccount: user.serviceAccount, firstSignInUnderPolicyAt: first }, this.deps.policy(), Math.floor(this.deps.now() / 1000));
  }

  private today(): string {
    return new Date(this.deps.now()).toISOString().slice(0, 10);
  }

  /** Where the sign-in must go before it finishes (the notice, or enrollment); null: go on. */
  async check(ctx: Context, details: InteractionDetails, authCtx: AuthContext): Promise<string | null> {
    if (authCtx.enforcement === 'later') return null;
    const user = await this.deps.users.findById(authCtx.accountId);
    if (!user) throw new AppError('interaction_not_found');
    // The grace period counts from the first sign-in under the policy, finished or not.
    if (user.firstSignInAt === null) await this.deps.users.markFirstSignIn(user.id, this.deps.now());
    const { secondFactorKinds } = await readAccountAssurance(this.deps.factorService, user.id);
    const afterRecovery = (await this.deps.recoveryEnrollment?.required(user.id, secondFactorKinds.length)) ?? false;
    const outcome: EnforcementOutcome = afterRecovery ? { kind: 'enroll_required' } : this.outcomeFor(user, secondFactorKinds.length);
    if (outcome.kind === 'none') return null;
    if (outcome.kind === 'grace' && ctx.cookies.get(MFA_NOTICE_COOKIE, { signed: true }) === this.today()) return null;
    await this.deps.authContexts.set(details.uid, { ...authCtx, enforcement: outcome.kind === 'grace' ? 'grace' : 'required' });
    return outcome.kind === 'grace' ? `/interaction/${details.uid}/mfa-notice` : `/interaction/${details.uid}/enroll`;
  }

  /** What the notice page shows: days left in the grace period (null when no notice is due). */
  async notice(details: InteractionDetails): Promise<{ daysLeft: number } | null> {
    const authCtx = await this.deps.authContexts.get(details.uid);
    if (authCtx?.enforcement !== 'grace') return null;
    const user = await this.deps.users.findById(authCtx.accountId);
    if (!user) return null;
    const outcome = this.outcomeFor(user, 0);
    return outcome.kind === 'grace' ? { daysLeft: outcome.daysLeft } : null;
  }

  /** "Later": not again today in this browser; returns the context the sign-in continues with. */
  async postpone(ctx: Context, details: InteractionDetails): Promise<AuthContext> {
    const authCtx = await this.deps.authContexts.get(details.uid);
    if (authCtx?.enforcement !== 'grace') throw new AppError('interaction_not_found');
    ctx.cookies.set(MFA_NOTICE_COOKIE, this.today(), { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 86_400_000, overwrite: true });
    const later: AuthContext = { ...authCtx, enforcement: 'later' };
    await this.deps.authContexts.set(details.uid, later);
    return later;
  }
}
