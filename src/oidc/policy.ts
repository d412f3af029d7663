/**
 * Step-up inside oidc-provider's interaction policy: the `login` prompt gets a `stepwise_level` check that
 * compares what the request needs (client minimum, acr_values, claims acr, max age per level) with what the
 * session holds now. It replaces the built-in essential_acr(s) checks, which test exact membership instead
 * of "at least this level". When the session suffices, the check also sets the session's acr/amr to what
 * holds for *this* request, so a token never reports a level that has expired (node-oidc-provider #190).
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { AuthContext, AuthContextStore } from '../interactions/auth-context.js';
import type { LevelRule } from '../policy/levels.js';
import { amrFor } from '../policy/levels.js';
import { readClientPolicy, type ClientPolicy } from '../policy/client-policy.js';
import { countedMethods, levelsFor, requirement, strongestHeld, tokenAcr, type Requirement } from '../policy/decision.js';

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
  now: () => number;
}

interface Evaluation {
  policy: ClientPolicy;
  levels: LevelRule[];
  req: Requirement;
}

function evaluate(ctx: KoaContextWithOIDC, base: LevelRule[]): Evaluation {
  const policy = readClientPolicy(ctx.oidc.client as unknown as Record<string, unknown>);
  const levels = levelsFor(base, policy);
  const claims = ctx.oidc.claims as { id_token?: { acr?: { essential?: boolean; value?: string; values?: string[] } | null } };
  const req = requirement(levels, policy, {
    acrValues: typeof ctx.oidc.params?.acr_values === 'string' ? ctx.oidc.params.acr_values : undefined,
    claimsAcr: claims?.id_token?.acr ?? null,
  });
  return { policy, levels, req };
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
        const { policy: clientPolicy, levels, req } = evaluate(ctx, deps.levels);
        if (req.unmet || !session?.accountId) return Check.REQUEST_PROMPT;
        const login = oidc.result?.login as (Record<string, unknown> & StepwiseLoginExtras) | undefined;
        let sctx: AuthContext | null = null;
        if (login?.stepwise && login.stepwise.accountId === session.accountId) {
          // Just authenticated: this is the session's new context. Persist it under the session (whose uid
          // only exists from this resume on), so later requests see per-method times.
          sctx = login.stepwise;
          await deps.sessions.set(session.uid, sctx);
        } else {
          sctx = await deps.sessions.get(session.uid);
        }
        if (!sctx || sctx.accountId !== session.accountId) return Check.REQUEST_PROMPT;
        const now = Math.floor(deps.now() / 1000);
        // max_age on our clock as well (the built-in check uses the wall clock): freshness and level are
        // judged against the same time source.
        const maxAge = Number(oidc.params?.max_age);
        if (Number.isFinite(maxAge) && !login && (session.loginTs ?? 0) < now - maxAge) return Check.REQUEST_PROMPT;
        let acr = tokenAcr(levels, req, sctx.methods, now, clientPolicy);
        if (!acr && login?.stepwise_lower && clientPolicy.allow_lower_acr && !req.essential) {
          acr = strongestHeld(levels, sctx.methods, now, clientPolicy);
        }
        if (!acr) return Check.REQUEST_PROMPT;
        const rule = levels.find((l) => l.acr === acr)!;
        const ruleMaxAge = Math.min(rule.maxAgeSeconds, clientPolicy.max_age_seconds ?? Number.POSITIVE_INFINITY);
        const backing = countedMethods(sctx.methods, clientPolicy).filter((m) => m.at >= now - ruleMaxAge);
        const amr = amrFor(backing);
        if (session.acr !== acr) session.acr = acr;
        if (!sameSet(session.amr, amr)) session.amr = amr;
        return Check.NO_NEED_TO_PROMPT;
      },
      (ctx: KoaContextWithOIDC) => {
        const { req } = evaluate(ctx, deps.levels);
        return { stepwise_required_level: req.level, stepwise_unmet: req.unmet, stepwise_essential: req.essential };
      },
    ),
  );
  return policy;
}
