/**
 * The account page's activity and sessions sections, in the request's language (src/i18n/context.ts):
 * one hook for src/account/routes.ts.
 */
import type { Container } from '../container.js';
import { requestI18n } from '../i18n/context.js';
import { activityRows, type ActivityRow } from './activity-view.js';
import { sessionRows, type SessionRow } from './sessions-view.js';

const SHOWN = 15;

export async function accountSections(c: Container, userId: string, sessionUid: string): Promise<{ events: ActivityRow[]; sessions: SessionRow[] }> {
  const { lang, t } = await requestI18n();
  // A few more events than shown: a sign-in's methods are the events just before it.
  const events = await c.audit.list({ userId, limit: SHOWN * 2 });
  return {
    events: activityRows(events, { nowMs: c.now(), lang, t }).slice(0, SHOWN),
    sessions: await sessionRows(c, userId, sessionUid, t),
  };
}
