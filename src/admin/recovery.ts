/**
 * Admin recovery of a user who lost every factor, for the API and console: the recovery itself is
 * src/recovery/service.ts (H11B); this adds the admin's identity and four eyes (`start_recovery`).
 */
import { cancelRecovery, listRecoveries, startRecovery, type RecoveryView } from '../recovery/service.js';
import { guarded, registerGuardedAction } from './pending.js';
import { requireUser } from './users.js';
import type { Actor, AdminContext, Guarded } from './types.js';

export type { RecoveryView };

async function executeStart(c: AdminContext, actor: Actor, userId: string, reason: string, evidence: string) {
  const user = await requireUser(c, userId);
  return startRecovery(c, { email: user.email, reason, evidence, admin: actor.id, ip: actor.ip ?? null });
}

registerGuardedAction('start_recovery', (c, params, who) => executeStart(c, who.requester, String(params.userId), String(params.reason), String(params.evidence)));

/** Starts a recovery (pending for the policy's recovery_timeout; the user is told and can cancel). */
export async function startUserRecovery(
  c: AdminContext,
  actor: Actor,
  userId: string,
  input: { reason: string; evidence: string },
): Promise<Guarded<Awaited<ReturnType<typeof startRecovery>>>> {
  const user = await requireUser(c, userId);
  return guarded(
    c,
    actor,
    'start_recovery',
    { params: { userId, reason: input.reason, evidence: input.evidence }, summary: `start an account recovery for ${user.email} (${input.evidence})`, userId },
    () => executeStart(c, actor, userId, input.reason, input.evidence),
  );
}

export async function listUserRecoveries(c: AdminContext, userId: string): Promise<RecoveryView[]> {
  const user = await requireUser(c, userId);
  return listRecoveries(c, { email: user.email });
}

export async function cancelUserRecovery(c: AdminContext, actor: Actor, recoveryId: string): Promise<RecoveryView> {
  return cancelRecovery(c, { id: recoveryId, by: actor.id, via: 'admin', ip: actor.ip ?? null });
}
