/**
 * Which second factors a sign-in offers next — pure, from the one requirement (requirement.ts), the kinds
 * the account has enrolled and the methods verified so far. The sign-in flow (src/interactions/flow.ts)
 * feeds it what it read; the factor chooser, the challenge pages and "finish or ask for more" all use it.
 */
import { freshSince, ruleFor, type AssuranceRequirement } from './requirement.js';
import { currentLevel, usefulFactors, type CandidateFactor } from './decision.js';
import type { VerifiedMethod } from '../factors/types.js';

/** What the rule needs to know of a factor kind (its FactorInfo). */
export type FactorTraits<K extends CandidateFactor['kind']> = (kind: K) => CandidateFactor;

/**
 * The enrolled kinds worth offering now: allowed for the client, not verified within the level's max age (or
 * within what a sensitive action allows), and able to reach the required level. When none can and the client
 * accepts a lower acr on voluntary requests (`mayLower`), the highest level still reachable at or above the
 * floor — never below it, and never a level the session already holds.
 */
export function factorsToOffer<K extends CandidateFactor['kind']>(
  req: AssuranceRequirement,
  enrolled: readonly K[],
  methods: VerifiedMethod[],
  nowSeconds: number,
  traits: FactorTraits<K>,
): K[] {
  const offerFor = (level: number): K[] => {
    const rule = ruleFor(req, level);
    if (!rule) return [];
    const since = Math.max(freshSince(req, nowSeconds, level), nowSeconds - (req.secondFactorWithin ?? Number.POSITIVE_INFINITY));
    const candidates = enrolled.filter((k) => !methods.some((m) => m.kind === k && m.at >= since)).map(traits);
    return usefulFactors(rule, methods, candidates, nowSeconds, req.policy).map((c) => c.kind as K);
  };
  let offer = offerFor(req.level);
  if (offer.length === 0 && req.mayLower) {
    const held = currentLevel(req.levels, methods, nowSeconds, req.policy);
    for (let level = req.level - 1; level >= req.floor && offer.length === 0; level--) {
      if (held >= level) break;
      offer = offerFor(level);
    }
  }
  return offer;
}
