/**
 * The account page's "Where you're signed in": the user's SSO sessions (c.userSessions), newest activity
 * first, each with the browser and network it was established from (the session's authentication context
 * and the device records) and when it was last active.
 */
import type { Container } from '../container.js';

type Translate = (key: string, options?: Record<string, unknown>) => string;

export interface SessionRow {
  uid: string;
  current: boolean;
  device: string;
  network: string | null;
  started: string;
  lastActive: string;
}

const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export async function sessionRows(c: Pick<Container, 'userSessions' | 'sessionContexts' | 'devices'>, userId: string, currentUid: string, t: Translate): Promise<SessionRow[]> {
  const [sessions, devices] = await Promise.all([c.userSessions.list(userId, { currentSessionUid: currentUid }), c.devices.listByUser(userId)]);
  const byHash = new Map(devices.map((d) => [d.deviceHash, d.uaFamily]));
  return Promise.all(
    sessions.map(async (s) => {
      const origin = (await c.sessionContexts.get(s.uid))?.origin;
      const device = (origin?.deviceHash && byHash.get(origin.deviceHash)) || s.device || t('account.sessions.unknownDevice');
      return {
        uid: s.uid,
        current: Boolean(s.current),
        device,
        network: origin?.network ?? s.ip ?? null,
        started: utc(s.createdAt),
        lastActive: utc(s.lastSeen ?? s.createdAt),
      };
    }),
  );
}
