/** The account page reads password-reset and recovery audit events as sentences (src/account/activity.ts). */
import { describe, expect, it } from 'vitest';
import { describeEvent } from '../../src/account/activity.js';

describe('activity sentences for password reset and recovery', () => {
  it.each([
    ['password.reset_requested', 'success', 'E-mailed a password reset link'],
    ['password.reset', 'success', 'Password reset with an e-mailed link (signed out everywhere)'],
    ['password.reset', 'failure', 'A password reset link was refused'],
    ['recovery.started', 'success', 'An administrator started a recovery of your account'],
    ['recovery.cancelled', 'success', 'Account recovery cancelled'],
    ['recovery.cancelled', 'failure', 'Could not cancel the account recovery'],
    ['recovery.effective', 'success', 'Account recovery took effect: a sign-in link was e-mailed'],
    ['recovery.used', 'success', 'Account recovery: all previous sign-in methods removed'],
    ['recovery.completed', 'success', 'Account recovery finished: a new second factor was set up'],
    ['recovery.expired', 'success', 'Account recovery expired unused'],
  ] as const)('%s (%s)', (type, outcome, text) => {
    expect(describeEvent({ type, outcome, details: {} })).toBe(text);
  });
});
