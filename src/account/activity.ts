/**
 * The account page's "Recent security activity": one sentence per audit event, in one place. Pure — no
 * clock, no store — so every event type's wording is unit-tested (test/unit/activity.test.ts). Sentences are
 * `activity.*` catalog messages in the reader's language (a `t` in; English by default); risk reasons keep
 * the scorer's English detail in English and are named by their signal in other languages. Audit details are
 * read defensively (old rows, other writers): a missing or odd field makes the sentence plainer, never
 * throws, and an unknown type gets a generic sentence, never its raw name.
 */
import type { AuditEvent } from '../audit/log.js';
import { translator, type Translate } from '../i18n/index.js';

export type DescribableEvent = Pick<AuditEvent, 'type' | 'outcome'> & { details?: Record<string, unknown> | null };

/** Second-factor kinds as they read inside a sentence (`activity.methodIn.<kind>`). */
const METHODS = new Set(['totp', 'webauthn', 'backup_code', 'push', 'sms', 'password']);

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
const SUBJECTS = ['new_device', 'new_location', 'new_network'];

/** How a risk reason reads: English keeps the scorer's detail as recorded; other languages name the signal. */
function reasonText(r: Reason, t: Translate, english: boolean): string {
  if (english) return r.detail;
  return t(`activity.reason.${r.signal}`, { defaultValue: r.detail });
}

function describeRisk(details: Record<string, unknown>, t: Translate, english: boolean): string {
  const decision = details.decision && typeof details.decision === 'object' ? (details.decision as Record<string, unknown>) : {};
  const kind = str(decision.kind);
  const reasons = reasonsOf(details);
  const location = str(details.location);
  const fired = (signal: string) => reasons.some((r) => r.signal === signal);
  // Reasons that did something (ignored ones, including those a remembered device spared, are only scored).
  const acting = reasons.filter((r) => r.action !== 'ignore');
  const why = (list: Reason[]) => list.map((r) => reasonText(r, t, english)).join(', ');

  if (kind === 'deny') {
    const denying = acting.filter((r) => r.action === 'deny');
    const shown = (denying.length > 0 ? denying : acting.length > 0 ? acting : reasons).slice(0, 3);
    const key = `activity.risk.blocked${location ? 'In' : ''}${shown.length > 0 ? 'Why' : ''}`;
    return t(key, { location, why: why(shown) });
  }

  const named = SUBJECTS.find((signal) => fired(signal));
  const signals = details.signals && typeof details.signals === 'object' ? (details.signals as Record<string, unknown>) : {};
  const device = signals.device && typeof signals.device === 'object' ? (signals.device as Record<string, unknown>) : {};
  const subject = t(`activity.risk.subject.${named ?? (device.remembered === true ? 'remembered' : 'plain')}`);
  const place = location ? t('activity.risk.in', { subject, location }) : subject;
  if (kind === 'step_up') {
    // Say why when the subject does not already: e.g. a sensitive action or failed attempts.
    const because = named ? [] : acting.slice(0, 2);
    return because.length > 0 ? t('activity.risk.stepUpWhy', { subject: place, why: why(because) }) : t('activity.risk.stepUp', { subject: place });
  }
  return place;
}

/** "factor.enroll.totp" / "factor.verify.webauthn" / "factor.enroll.totp.start" → its pieces. */
function factorEvent(type: string): { action: string; kind: string | null; start: boolean } | null {
  const m = /^factor\.(enroll|verify)\.([a-z_]+)(\.start)?$/.exec(type);
  if (!m) return null;
  return { action: m[1]!, kind: METHODS.has(m[2]!) ? m[2]! : null, start: Boolean(m[3]) };
}

/** The catalog key of a fixed sentence for an event type and outcome, or null (built below). */
function fixedSentence(type: string, failed: boolean, details: Record<string, unknown>): string | null {
  switch (type) {
    case 'login.password':
      return failed ? 'passwordWrong' : 'passwordAccepted';
    case 'login.passkey':
      return failed ? 'passkeyFailed' : 'passkeySignedIn';
    case 'login.denied':
      return 'loginDenied';
    case 'login.unmet_requirements':
      return 'loginUnmet';
    case 'consent.granted':
      return 'consentGranted';
    case 'factor.renamed':
      return 'factorRenamed';
    case 'factor.removed':
      if (!failed) return 'factorRemoved';
      return details.reason === 'last_factor' ? 'factorRemoveLastRefused' : 'factorRemoveFailed';
    case 'device.forgotten':
      return details.all === true ? 'devicesForgottenAll' : 'deviceForgotten';
    case 'factor.push.registered':
      return 'pushRegistered';
    case 'factor.push.sent':
      return 'pushSent';
    case 'factor.push.approved':
      return 'pushApproved';
    case 'factor.push.denied':
      return 'pushDenied';
    case 'factor.push.wrong_number':
      return 'pushWrongNumber';
    case 'factor.push.capped':
      return 'pushCapped';
    case 'factor.push.stale':
      return 'pushStale';
    case 'user.created':
      return 'userCreated';
    case 'sms.sent':
      if (failed) return 'smsFailed';
      return details.purpose === 'enroll' ? 'smsEnroll' : 'smsSignIn';
    // Password reset and admin recovery (src/account/password-reset.ts, src/recovery/).
    case 'password.reset_requested':
      return failed ? 'resetRequestFailed' : 'resetRequested';
    case 'password.reset':
      return failed ? 'resetRefused' : 'resetDone';
    case 'recovery.started':
      return 'recoveryStarted';
    case 'recovery.cancelled':
      return failed ? 'recoveryCancelFailed' : 'recoveryCancelled';
    case 'recovery.effective':
      return failed ? 'recoveryMailFailed' : 'recoveryEffective';
    case 'recovery.used':
      return 'recoveryUsed';
    case 'recovery.completed':
      return 'recoveryCompleted';
    case 'recovery.expired':
      return 'recoveryExpired';
  }
  return null;
}

/**
 * One human sentence for an audit event shown to its user, in the language of `t` (English by default:
 * the `activity.*` messages of locales/en.json).
 */
export function describeEvent(event: DescribableEvent, t: Translate = translator('en'), lang = 'en'): string {
  const details = event.details && typeof event.details === 'object' ? event.details : {};
  const failed = event.outcome === 'failure';
  const e = (key: string, values?: Record<string, unknown>) => t(`activity.event.${key}`, values);

  if (event.type === 'risk.decision') return describeRisk(details, t, lang === 'en');
  if (event.type === 'login.complete') {
    const acr = str(details.acr);
    return acr ? e('signedInAcr', { acr }) : e('signedIn');
  }
  const fixed = fixedSentence(event.type, failed, details);
  if (fixed) return e(fixed);

  const factor = factorEvent(event.type);
  if (factor?.action === 'enroll') {
    const backup = factor.kind === 'backup_code';
    const method = t(`activity.methodIn.${factor.kind ?? 'other'}`);
    if (factor.start) return failed ? e('enrollStartFailed', { method }) : backup ? e('backupStarted') : e('enrollStarted', { method });
    if (backup) return failed ? e('backupFailed') : e('backupCreated');
    return failed ? e('enrollFailed', { method }) : e('enrolled', { method });
  }
  if (factor?.action === 'verify') {
    const method = t(`activity.methodIn.${factor.kind ?? 'other'}`);
    return failed ? e('verifyFailed', { method }) : e('verified', { method });
  }

  return failed ? e('otherFailed') : e('other');
}
