/**
 * Collector for the account's side of the assurance rule: its usable second factors (what can be asked
 * for) and which factors still exist, so a factor removed after it was verified stops counting.
 */
import type { FactorService } from './service.js';
import type { SecondFactorKind } from './registry.js';
import type { FactorRecord } from '../store/repos/factors.js';

export interface AccountAssurance {
  secondFactorKinds: SecondFactorKind[];
  activeFactorIds: ReadonlySet<string>;
  factors: FactorRecord[];
}

export async function readAccountAssurance(factors: FactorService, userId: string): Promise<AccountAssurance> {
  const { kinds, factors: rows } = await factors.enrolled(userId);
  return { secondFactorKinds: kinds, activeFactorIds: new Set(rows.map((f) => f.id)), factors: rows };
}
