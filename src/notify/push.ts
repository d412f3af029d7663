/**
 * Push delivery (PUSH_TRANSPORT): `pull`, the embedded default, sends nothing — devices fetch pending
 * challenges from GET /push/v1/challenges; `firebase` sends an FCM data message through the real
 * firebase-admin SDK (HTTP v1 `projects/{id}/messages:send`) with the service account of FIREBASE_CREDENTIALS.
 * Either way the pull endpoint keeps working, so a missed notification never blocks a sign-in.
 */
import type { Agent } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChallengeNotice } from '../factors/push/protocol.js';

/** What happened to one device's notification. */
export type DeliveryOutcome =
  /** Nothing to send: the device pulls (pull transport, or a device without an FCM token). */
  | 'pull'
  | 'sent'
  /** FCM says the registration token is gone (app uninstalled or token rotated): the device is stale. */
  | 'unregistered'
  /** Any other failure (network, quota, credentials): logged; the device may still pull. */
  | 'failed';

export interface PushTransport {
  readonly name: 'pull' | 'firebase';
  deliver(device: { id: string; fcmToken: string | null }, notice: ChallengeNotice & { issuer: string }): Promise<DeliveryOutcome>;
  close(): Promise<void>;
}

export class PullTransport implements PushTransport {
  readonly name = 'pull' as const;
  async deliver(): Promise<DeliveryOutcome> {
    return 'pull';
  }
  async close(): Promise<void> {}
}

/** A firebase-admin credential: anything that yields OAuth2 access tokens (firebase-admin's `Credential`). */
export interface FirebaseCredential {
  getAccessToken(): Promise<{ access_token: string; expires_in: number }>;
}

/**
 * Test and embedding hooks for the firebase transport. The SDK has no endpoint option: tests point its
 * HTTP agent at a local server speaking FCM HTTP v1 and give a credential that needs no Google token server.
 */
export interface FirebaseOverrides {
  credential?: FirebaseCredential;
  httpAgent?: Agent;
}

export interface FirebaseTransportOptions extends FirebaseOverrides {
  /** Service-account JSON file (FIREBASE_CREDENTIALS). */
  credentialsFile: string;
  projectId: string;
  log?: Logger;
}

/** FCM error codes (firebase-admin `messaging/*`) that mean the registration token will never work again. */
const GONE = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);

/** Strings only (FCM data payloads refuse anything else). */
export function fcmData(notice: ChallengeNotice & { issuer: string }): Record<string, string> {
  return {
    type: 'stepwise.push.challenge',
    challengeId: notice.id,
    issuer: notice.issuer,
    client: notice.client,
    ip: notice.ip,
    location: notice.location,
    time: notice.time,
    expiresAt: notice.expiresAt,
  };
}

export class FirebaseTransport implements PushTransport {
  readonly name = 'firebase' as const;

  private constructor(
    private readonly send: (message: Record<string, unknown>) => Promise<string>,
    private readonly stop: () => Promise<void>,
    private readonly log: Logger | undefined,
  ) {}

  /** Loads the SDK (only when this transport is configured) and initialises a private app instance. */
  static async create(opts: FirebaseTransportOptions): Promise<FirebaseTransport> {
    const { initializeApp, cert, deleteApp } = await import('firebase-admin/app');
    const { getMessaging } = await import('firebase-admin/messaging');
    const app = initializeApp(
      {
        credential: opts.credential ?? cert(opts.credentialsFile, opts.httpAgent),
        projectId: opts.projectId,
        ...(opts.httpAgent ? { httpAgent: opts.httpAgent } : {}),
      },
      `stepwise-push-${randomUUID()}`,
    );
    const messaging = getMessaging(app);
    return new FirebaseTransport(
      (message) => messaging.send(message as unknown as Parameters<typeof messaging.send>[0]),
      () => deleteApp(app),
      opts.log,
    );
  }

  async deliver(device: { id: string; fcmToken: string | null }, notice: ChallengeNotice & { issuer: string }): Promise<DeliveryOutcome> {
    if (!device.fcmToken) return 'pull';
    const ttlMs = Math.max(1000, Date.parse(notice.expiresAt) - Date.parse(notice.time));
    try {
      await this.send({
        token: device.fcmToken,
        data: fcmData(notice),
        // A sign-in is waiting: deliver now, and not after the challenge has expired.
        android: { priority: 'high', ttl: ttlMs },
        // A data-only message reaches iOS apps as a background push (Apple requires priority 5 for those).
        apns: {
          headers: { 'apns-push-type': 'background', 'apns-priority': '5', 'apns-expiration': String(Math.floor(Date.parse(notice.expiresAt) / 1000)) },
          payload: { aps: { contentAvailable: true } },
        },
      });
      return 'sent';
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && GONE.has(code)) return 'unregistered';
      this.log?.warn({ err, deviceId: device.id, code }, 'push: FCM send failed');
      return 'failed';
    }
  }

  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
  }
}

export interface PushTransportConfig {
  transport: 'pull' | 'firebase';
  credentialsFile?: string | undefined;
  projectId?: string | undefined;
}

export async function createPushTransport(config: PushTransportConfig, deps: { log?: Logger; firebase?: FirebaseOverrides } = {}): Promise<PushTransport> {
  if (config.transport === 'pull') return new PullTransport();
  return FirebaseTransport.create({
    credentialsFile: config.credentialsFile!,
    projectId: config.projectId!,
    log: deps.log,
    ...deps.firebase,
  });
}
