/**
 * The account page's security activity as people read it, in their language:
 * "Signed in with password and authenticator app" · "Chrome on Linux" · "203.0.113.7" · "5 minutes ago".
 * Pure: the events (newest first, as the audit log lists them), the clock and a translator in, rows out.
 * A sign-in names the methods verified for it (the password/passkey and factor events since the previous
 * sign-in) and the browser the risk check saw; other events keep their sentence (src/account/activity.ts).
 */
import type { AuditEvent } from '../audit/log.js';
import type { Translate } from '../i18n/index.js';
import { describeEvent } from './activity.js';

export interface ActivityRow {
  /** ISO time (for <time datetime>) and its UTC text. */
  iso: string;
  at: string;
  text: string;
  /** "Chrome on Linux · 203.0.113.7 · 5 minutes ago" (parts that are known). */
  detail: string;
  outcome: string;
}

const METHOD_ORDER = ['password', 'webauthn', 'totp', 'push', 'sms', 'backup_code'];

/** The methods verified for the sign-in at index `i`: events after the previous sign-in, up to this one. */
function methodsFor(events: AuditEvent[], i: number): { methods: string[]; device: string | null } {
  const methods = new Set<string>();
  let device: string | null = null;
  for (let j = i + 1; j < events.length; j++) {
    const e = events[j]!;
    if (e.type === 'login.complete') break;
    if (e.outcome !== 'success') continue;
    if (e.type === 'login.password') methods.add('password');
    else if (e.type === 'login.passkey') methods.add('webauthn');
    else if (e.type === 'risk.decision' && device === null && typeof e.details?.device === 'string') device = e.details.device;
    else {
      const m = /^factor\.verify\.([a-z_]+)$/.exec(e.type);
      if (m) methods.add(m[1]!);
    }
  }
  return { methods: METHOD_ORDER.filter((m) => methods.has(m)), device };
}

function relative(lang: string, thenMs: number, nowMs: number): string {
  const seconds = Math.round((thenMs - nowMs) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(0, 'minute');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  return rtf.format(Math.round(seconds / 86400), 'day');
}

/** "Chrome on Linux" (as the risk check records it) in the reader's words. */
function deviceName(device: string, t: Translate): string {
  const m = /^(.+) on (.+)$/.exec(device);
  return m ? t('device.on', { browser: m[1], os: m[2] }) : device;
}

export function activityRows(events: AuditEvent[], opts: { nowMs: number; lang: string; t: Translate }): ActivityRow[] {
  const { t, lang } = opts;
  const list = new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' });
  return events.map((e, i) => {
    let text: string;
    let device: string | null = null;
    if (e.type === 'login.complete' && e.outcome === 'success') {
      const found = methodsFor(events, i);
      device = found.device;
      text = found.methods.length > 0
        ? t('activity.signedInWith', { methods: list.format(found.methods.map((m) => t(`activity.method.${m}`))) })
        : t('activity.signedIn');
    } else {
      text = describeEvent(e, t, lang);
    }
    if (device) device = deviceName(device, t);
    const detail = [device, e.ip, relative(lang, e.at, opts.nowMs)].filter((x): x is string => typeof x === 'string' && x !== '').join(' · ');
    const iso = new Date(e.at).toISOString();
    return { iso, at: iso.slice(0, 19).replace('T', ' '), text, detail, outcome: e.outcome };
  });
}
