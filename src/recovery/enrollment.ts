/**
 * The sign-in's side of a used recovery: once the mailed link removed the old factors, the user's next
 * sign-in must enroll a new second factor before anything else. The enforcement gate
 * (src/interactions/enforcement-gate.ts) asks `required()` for every sign-in that reached its level; the
 * first time it finds the user with a second factor again, the recovery is completed (and audited).
 * Nearly every user has no open recovery: that answer is cached across requests until the table changes
 * (src/store/shared-cache.ts, migration 20261203000002), so a sign-in does not ask the database each time.
 */
import type { Db } from '../store/db.js';
import type { AuditLog } from '../audit/log.js';
import { cacheAcrossRequests } from '../store/shared-cache.js';
import type { TableGenerations } from '../store/table-generations.js';
import { RecoveriesRepo } from './repo.js';

export class RecoveryEnrollment {
  private readonly repo: RecoveriesRepo;

  constructor(private readonly deps: { db: Db; audit: AuditLog; now: () => number; changes: TableGenerations | null }) {
    this.repo = cacheAcrossRequests(new RecoveriesRepo(deps.db), 'recoveries', ['findOpen'], deps.changes, { keepMisses: true });
  }

  /** True while the user's used recovery still waits for a new second factor. */
  async required(userId: string, secondFactors: number): Promise<boolean> {
    const open = await this.repo.findOpen(userId);
    if (!open || open.status !== 'used') return false;
    if (secondFactors === 0) return true;
    if (await this.repo.transition(open.id, 'used', { status: 'completed', completed_at: this.deps.now() })) {
      await this.deps.audit.record({ type: 'recovery.completed', outcome: 'success', userId, details: { recoveryId: open.id } });
    }
    return false;
  }
}
