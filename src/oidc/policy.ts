/**
 * Step-up inside oidc-provider's interaction policy: the `login` prompt gets a `stepwise_level` check that
 * compares what the request needs (client minimum, acr_values, claims acr, max age per level) with what the
 * session holds now. It replaces the built-in essential_acr(s) checks, which test exact membership instead
 * of "at least this level". The requirement and the acr/amr come from policy/requirement.ts, the same rule the
 * sign-in flow uses. When the session suffices, the check also sets the session's acr/amr to what
 * holds for *this* request, so a token never reports a level that has expired (node-oidc-provider #190).
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { AuthContext, AuthContextStore } from '../interactions/auth-context.js';
import type { LevelRule } from '../policy/levels.js';
import type { RiskService } from '../risk/service.js';
import { readClientPolicy, isSensitiveRequest } from '../policy/client-policy.js';
import { assuranceRequirement, decide, liveMethods, type AssuranceRequirement, type Demand } from '../policy/requirement.js';

const { Check, base } = interactionPolicy;

export const LEVEL_CHECK = 'stepwise_level';

/** Marker in the login result: the new authentication context, persisted per session by the check. */
export interface StepwiseLoginExtras {
  stepwise?: AuthContext;
  /** The flow finished below the requested level because the client allows a lower acr. */
  stepwise_lower?: boolean;
}

export interface PolicyDeps {
  levels: LevelRule[];
  sessions: AuthContextStore;
  /**
   * The methods behind each authentication event, keyed `<session uid>:<auth_time>`, kept as long as a
   * refresh chain may live: refreshes re-derive acr/amr from them (oidc/refresh-decay.ts).
   */
  events: AuthContextStore;
  risk: RiskService;
  now: () => number;
}

export const eventKey = (sessionUid: string, authTime: number) => `${sessionUid}:${authTime}`;

interface Demands {
  demands: Demand[];
  secondFactorWithin?: number | undefined;
  denied?: boolean;
}

/** The one requirement for this authorization request (raw parameters: a request object / PAR is merged in). */
function requirementOf(ctx: KoaContextWithOIDC, levels: LevelRule[], risk: Demands = { demands: [] }): AssuranceRequirement {
  return assuranceRequirement({
    levels,
    client: ctx.oidc.client as unknown as Record<string, unknown>,
    params: ctx.oidc.params ?? {},
    ...risk,
  });
}

const sameSet = (a: string[] | undefined, b: string[]) => !!a && a.length === b.length && a.every((x) => b.includes(x));

export function buildInteractionPolicy(deps: PolicyDeps) {
  const policy = base();
  const login = policy.get('login')!;
  login.checks.remove('essential_acrs');
  login.checks.remove('essential_acr');

  login.checks.add(
    new Check(
      LEVEL_CHECK,
      'The requested authentication level is not met by the current session',
      'interaction_required',
      async (ctx: KoaContextWithOIDC) => {
        const { oidc } = ctx;
        const session = oidc.session;
        if (!session?.accountId) return Check.REQUEST_PROMPT;
        const login = oidc.result?.login as (Record<string, unknown> & StepwiseLoginExtras) | undefined;
        let sctx: AuthContext | null = null;
        if (login?.stepwise && login.stepwise.accountId === session.accountId) {
          // Just authenticated: this is the session's new context. Persist it under the session (whose uid
          // only exists from this resume on), so later requests see per-method times, and as this
          // authentication event, so refresh tokens issued from it decay by the same rule.
          sctx = login.stepwise;
          await deps.sessions.set(session.uid, sctx);
          if (session.loginTs) await deps.events.set(eventKey(session.uid, session.loginTs), sctx);
        } else {
          sctx = await deps.sessions.get(session.uid);
        }
        if (!sctx || sctx.accountId !== session.accountId) return Check.REQUEST_PROMPT;
        // prompt=login (or an interactive re-login for another reason): the sign-in that follows judges the
        // risk itself; judging (and auditing) the old session here would record a verdict nobody acted on.
        if (!login && oidc.prompts.has('login')) return Check.REQUEST_PROMPT;
        // The sign-in that just finished was held to its own risk verdict; any other request (SSO) is judged
        // again now — from where it comes, for what it asks.
        let risk: Demands;
        let activeFactorIds: ReadonlySet<string>;
        if (login?.stepwise && sctx.risk) {
          risk = { demands: sctx.risk.demands, secondFactorWithin: sctx.risk.secondFactorWithin };
          activeFactorIds = new Set(sctx.methods.map((m) => m.factorId).filter((id): id is string => Boolean(id)));
        } else {
          const clientPolicy = readClientPolicy(oidc.client as unknown as Record<string, unknown>);
          const assessment = await deps.risk.assess(deps.risk.requestContext(ctx), session.accountId, {
            sensitive: isSensitiveRequest(clientPolicy, oidc.params?.scope),
            rememberedAllowed: clientPolicy.remembered_devices !== false,
            session: sctx.origin,
          });
          if (!assessment) return Check.REQUEST_PROMPT;
          const { verdict } = assessment;
          risk = verdict;
          activeFactorIds = assessment.account.activeFactorIds;
          if (verdict.decision.decision.kind !== 'allow') {
            await deps.risk.audit(verdict, { userId: session.accountId, clientId: String(oidc.client?.clientId), ip: ctx.ip, sso: true });
          }
        }
        const req = requirementOf(ctx, deps.levels, risk);
        if (req.unmet) return Check.REQUEST_PROMPT;
        const now = Math.floor(deps.now() / 1000);
        // max_age on our clock as well (the built-in check uses the wall clock): freshness and level are
        // judged against the same time source.
        if (req.maxAgeSeconds !== undefined && !login && (session.loginTs ?? 0) < now - req.maxAgeSeconds) return Check.REQUEST_PROMPT;
        // A lower acr is accepted only from the sign-in that just offered the user everything they have,
        // never from a stored session, and never below the floor (client minimum and account demand).
        const decision = decide(req, liveMethods(sctx.methods, activeFactorIds), now, { allowLower: Boolean(login?.stepwise_lower) });
        if (!decision) return Check.REQUEST_PROMPT;
        if (session.acr !== decision.acr) session.acr = decision.acr;
        if (!sameSet(session.amr, decision.amr)) session.amr = decision.amr;
        return Check.NO_NEED_TO_PROMPT;
      },
      (ctx: KoaContextWithOIDC) => {
        // Request-only view for the hosted pages (the flow adds the account's demand itself).
        const req = requirementOf(ctx, deps.levels);
        return { stepwise_required_level: req.level, stepwise_unmet: req.unmet, stepwise_essential: req.essential };
      },
    ),
  );
  return policy;
}
