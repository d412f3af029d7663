/**
 * The recovery timeline as pure decisions of (stored row, now). A recovery is `pending` from the moment an
 * admin starts it until `effective_at` (created + the policy's recovery_timeout); only then is it
 * `effective`, and the sign-in link is mailed. Once the link is used the old factors are gone and the
 * recovery is `used` until the user has enrolled a new second factor (`completed`). A pending recovery can
 * be `cancelled`; an effective one whose link was never used is `expired` when the link runs out.
 *
 * The stored status is only the last state written: a pending row past its effective time IS effective
 * (cancel refuses it) even before any sweep has sent the link.
 */

export type RecoveryStatus = 'pending' | 'effective' | 'used' | 'completed' | 'cancelled' | 'expired';

export const RECOVERY_STATUSES: readonly RecoveryStatus[] = ['pending', 'effective', 'used', 'completed', 'cancelled', 'expired'];

/** Open recoveries: at most one per user (the migration's partial unique index lists the same three). */
export const OPEN_STATUSES: readonly RecoveryStatus[] = ['pending', 'effective', 'used'];

/** How long the mailed sign-in link stays valid once the recovery is effective. */
export const SIGNIN_LINK_TTL_SECONDS = 72 * 3600;

export interface RecoveryTimes {
  /** The stored status. */
  status: RecoveryStatus;
  /** Epoch ms. */
  effectiveAt: number;
  /** When the mailed sign-in link stops working (epoch ms); null until it was sent. */
  signinExpiresAt: number | null;
}

/** The recovery's status at `nowMs`. */
export function recoveryStatus(r: RecoveryTimes, nowMs: number): RecoveryStatus {
  if (r.status === 'pending') return nowMs >= r.effectiveAt ? 'effective' : 'pending';
  if (r.status === 'effective' && r.signinExpiresAt !== null && nowMs >= r.signinExpiresAt) return 'expired';
  return r.status;
}

/** What a sweep must write now: send the sign-in link (it became effective), mark it expired, or nothing. */
export function dueTransition(r: RecoveryTimes, nowMs: number): 'send_signin_link' | 'expire' | null {
  const status = recoveryStatus(r, nowMs);
  if (status === 'effective' && r.status === 'pending') return 'send_signin_link';
  if (status === 'expired' && r.status === 'effective') return 'expire';
  return null;
}

/** Only a pending recovery can be cancelled: once effective the delay has done its job. */
export function cancellable(r: RecoveryTimes, nowMs: number): boolean {
  return recoveryStatus(r, nowMs) === 'pending';
}

/** The sign-in link can be used only while the recovery is effective (not before, not after it ran out). */
export function signinUsable(r: RecoveryTimes, nowMs: number): boolean {
  return recoveryStatus(r, nowMs) === 'effective' && r.status === 'effective';
}
