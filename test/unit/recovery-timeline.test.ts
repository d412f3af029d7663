/** The recovery timeline as pure decisions of (stored row, now): src/recovery/timeline.ts. */
import { describe, expect, it } from 'vitest';
import { cancellable, dueTransition, recoveryStatus, signinUsable, type RecoveryTimes } from '../../src/recovery/timeline.js';

const T0 = 1_800_000_000_000;
const H = 3_600_000;
const pending: RecoveryTimes = { status: 'pending', effectiveAt: T0 + 24 * H, signinExpiresAt: null };
const effective: RecoveryTimes = { status: 'effective', effectiveAt: T0 + 24 * H, signinExpiresAt: T0 + 96 * H };

describe('recovery timeline', () => {
  it('pending until effective_at, then effective even before a sweep wrote it (and then the link is due)', () => {
    expect(recoveryStatus(pending, T0)).toBe('pending');
    expect(recoveryStatus(pending, T0 + 24 * H - 1)).toBe('pending');
    expect(recoveryStatus(pending, T0 + 24 * H)).toBe('effective');
    expect(dueTransition(pending, T0 + 24 * H - 1)).toBeNull();
    expect(dueTransition(pending, T0 + 24 * H)).toBe('send_signin_link');
    // Due but not yet swept: the link has not been sent, so it cannot be used.
    expect(signinUsable(pending, T0 + 25 * H)).toBe(false);
  });

  it('only a pending recovery can be cancelled: not at or after effective_at, not once used, completed, cancelled or expired', () => {
    expect(cancellable(pending, T0 + 24 * H - 1)).toBe(true);
    expect(cancellable(pending, T0 + 24 * H)).toBe(false);
    for (const status of ['effective', 'used', 'completed', 'cancelled', 'expired'] as const) {
      expect(cancellable({ ...effective, status }, T0)).toBe(false);
    }
  });

  it('an effective recovery expires when its sign-in link runs out; the sweep then writes it', () => {
    expect(recoveryStatus(effective, T0 + 96 * H - 1)).toBe('effective');
    expect(signinUsable(effective, T0 + 96 * H - 1)).toBe(true);
    expect(recoveryStatus(effective, T0 + 96 * H)).toBe('expired');
    expect(signinUsable(effective, T0 + 96 * H)).toBe(false);
    expect(dueTransition(effective, T0 + 96 * H)).toBe('expire');
    expect(dueTransition({ ...effective, status: 'expired' }, T0 + 100 * H)).toBeNull();
  });

  it('used, completed and cancelled are final as stored, whatever the time', () => {
    for (const status of ['used', 'completed', 'cancelled'] as const) {
      for (const now of [T0, T0 + 30 * H, T0 + 1000 * H]) {
        expect(recoveryStatus({ ...effective, status }, now)).toBe(status);
        expect(dueTransition({ ...effective, status }, now)).toBeNull();
        expect(signinUsable({ ...effective, status }, now)).toBe(false);
      }
    }
  });
});
