/**
 * Collector for the account's side of the assurance rule: what the account demands (policy/requirement.ts
 * `accountDemand`) and which factors still exist, so a factor removed after it was verified stops counting.
 */
import type { FactorService } from './service.js';
import type { SecondFactorKind } from './registry.js';
import { accountDemand, type Demand } from '../policy/requirement.js';

export interface AccountAssurance {
  secondFactorKinds: SecondFactorKind[];
  activeFactorIds: ReadonlySet<string>;
  demands: Demand[];
}

export async function readAccountAssurance(factors: FactorService, userId: string): Promise<AccountAssurance> {
  const { kinds, factors: rows } = await factors.enrolled(userId);
  return { secondFactorKinds: kinds, activeFactorIds: new Set(rows.map((f) => f.id)), demands: accountDemand(kinds.length) };
}
