/**
 * The account page's "Recent security activity": one sentence per audit event, in one place. Pure — no I/O,
 * no clock — so every event type's wording is unit-tested (test/unit/activity.test.ts). Audit details are
 * read defensively (old rows, other writers): a missing or odd field makes the sentence plainer, never
 * throws, and an unknown type gets a generic sentence, never its raw name.
 */
import type { AuditEvent } from '../audit/log.js';

export type DescribableEvent = Pick<AuditEvent, 'type' | 'outcome'> & { details?: Record<string, unknown> | null };

/** Second-factor kinds as they read inside a sentence. */
const METHOD: Record<string, string> = {
  totp: 'an authenticator app',
  webauthn: 'a passkey or security key',
  backup_code: 'a backup code',
  push: 'your phone (push approval)',
  sms: 'a text message (SMS)',
  password: 'your password',
};

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 200) : null);

interface Reason {
  signal: string;
  action: string;
  detail: string;
}

function reasonsOf(details: Record<string, unknown>): Reason[] {
  const raw = details.reasons;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((r): Reason[] => {
    if (!r || typeof r !== 'object') return [];
    const o = r as Record<string, unknown>;
    const signal = str(o.signal);
    return signal ? [{ signal, action: str(o.action) ?? 'ignore', detail: str(o.detail) ?? signal.replace(/_/g, ' ') }] : [];
  });
}

/** Sign-in subjects named by the signal itself; the first that fired wins. */
const SUBJECTS: Array<[signal: string, text: string]> = [
  ['new_device', 'Sign-in from a new device'],
  ['new_location', 'Sign-in from a new location'],
  ['new_network', 'Sign-in from a new network'],
];

function describeRisk(details: Record<string, unknown>): string {
  const decision = details.decision && typeof details.decision === 'object' ? (details.decision as Record<string, unknown>) : {};
  const kind = str(decision.kind);
  const reasons = reasonsOf(details);
  const location = str(details.location);
  const where = location ? ` in ${location}` : '';
  const fired = (signal: string) => reasons.some((r) => r.signal === signal);
  // Reasons that did something (ignored ones, including those a remembered device spared, are only scored).
  const acting = reasons.filter((r) => r.action !== 'ignore');

  if (kind === 'deny') {
    const denying = acting.filter((r) => r.action === 'deny');
    const why = (denying.length > 0 ? denying : acting.length > 0 ? acting : reasons).slice(0, 3).map((r) => r.detail);
    return `Sign-in blocked${where}${why.length > 0 ? `: ${why.join(', ')}` : ''}`;
  }

  const named = SUBJECTS.find(([signal]) => fired(signal));
  const signals = details.signals && typeof details.signals === 'object' ? (details.signals as Record<string, unknown>) : {};
  const device = signals.device && typeof signals.device === 'object' ? (signals.device as Record<string, unknown>) : {};
  const subject = named ? named[1] : device.remembered === true ? 'Sign-in from a remembered device' : 'Sign-in';
  if (kind === 'step_up') {
    // Say why when the subject does not already: e.g. a sensitive action or failed attempts.
    const why = named ? [] : acting.slice(0, 2).map((r) => r.detail);
    return `${subject}${where}: asked for a second factor${why.length > 0 ? ` (${why.join(', ')})` : ''}`;
  }
  return `${subject}${where}`;
}

/** "factor.enroll.totp" / "factor.verify.webauthn" / "factor.enroll.totp.start" → its pieces. */
function factorEvent(type: string): { action: string; method: string; start: boolean } | null {
  const m = /^factor\.(enroll|verify)\.([a-z_]+)(\.start)?$/.exec(type);
  if (!m) return null;
  return { action: m[1]!, method: METHOD[m[2]!] ?? 'a sign-in method', start: Boolean(m[3]) };
}

/** One human sentence for an audit event shown to its user. */
export function describeEvent(event: DescribableEvent): string {
  const details = event.details && typeof event.details === 'object' ? event.details : {};
  const failed = event.outcome === 'failure';

  switch (event.type) {
    case 'risk.decision':
      return describeRisk(details);
    case 'login.complete': {
      const acr = str(details.acr);
      return acr ? `Signed in (${acr})` : 'Signed in';
    }
    case 'login.password':
      return failed ? 'Wrong password entered' : 'Password accepted';
    case 'login.passkey':
      return failed ? 'A passkey sign-in failed' : 'Signed in with a passkey';
    case 'login.denied':
      return 'Sign-in refused by the security policy';
    case 'login.unmet_requirements':
      return 'Sign-in stopped: the app asked for a sign-in method this account does not have';
    case 'consent.granted':
      return 'Allowed an app to access your account';
    case 'factor.renamed':
      return 'Renamed a sign-in method';
    case 'factor.removed':
      if (!failed) return 'Removed a sign-in method';
      return details.reason === 'last_factor' ? 'Refused to remove your last second factor (your account requires one)' : 'Could not remove a sign-in method';
    case 'device.forgotten':
      return details.all === true ? 'Forgot all remembered devices' : 'Forgot a remembered device';
    case 'factor.push.registered':
      return 'A phone registered for push approval (waiting for your confirmation)';
    case 'factor.push.sent':
      return 'Sent a sign-in request to your phone';
    case 'factor.push.approved':
      return 'A sign-in request was approved on your phone';
    case 'factor.push.denied':
      return 'A sign-in request was denied on your phone ("this wasn\'t me"): push requests were paused';
    case 'factor.push.wrong_number':
      return 'A sign-in request on your phone was answered with the wrong number';
    case 'factor.push.capped':
      return 'A push request was not sent: too many in the last hour';
    case 'factor.push.stale':
      return 'Your phone app could not be reached for push requests; set it up again';
    case 'user.created':
      return 'Account created';
    case 'sms.sent':
      if (failed) return 'A text message with a code could not be sent';
      return details.purpose === 'enroll' ? 'Texted a code to confirm a new phone number' : 'Texted a sign-in code';
    // Password reset and admin recovery (src/account/password-reset.ts, src/recovery/).
    case 'password.reset_requested':
      return failed ? 'A password reset link could not be sent' : 'E-mailed a password reset link';
    case 'password.reset':
      return failed ? 'A password reset link was refused' : 'Password reset with an e-mailed link (signed out everywhere)';
    case 'recovery.started':
      return 'An administrator started a recovery of your account';
    case 'recovery.cancelled':
      return failed ? 'Could not cancel the account recovery' : 'Account recovery cancelled';
    case 'recovery.effective':
      return failed ? 'The account recovery link could not be e-mailed' : 'Account recovery took effect: a sign-in link was e-mailed';
    case 'recovery.used':
      return 'Account recovery: all previous sign-in methods removed';
    case 'recovery.completed':
      return 'Account recovery finished: a new second factor was set up';
    case 'recovery.expired':
      return 'Account recovery expired unused';
  }

  const factor = factorEvent(event.type);
  if (factor?.action === 'enroll') {
    const backup = factor.method === METHOD.backup_code;
    if (factor.start) return failed ? `Could not start adding ${factor.method}` : backup ? 'Started creating backup codes' : `Started adding ${factor.method}`;
    if (backup) return failed ? 'Could not create backup codes' : 'Created backup codes';
    return failed ? `Could not add ${factor.method}` : `Added ${factor.method}`;
  }
  if (factor?.action === 'verify') return failed ? `Failed attempt with ${factor.method}` : `Confirmed with ${factor.method}`;

  return failed ? 'Account activity (did not succeed)' : 'Account activity';
}
