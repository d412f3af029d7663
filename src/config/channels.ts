/**
 * The SMS and push channels' settings, checked at start-up: which transport, its credentials, and the
 * send limits (src/notify/, src/factors/sms/, src/factors/push/).
 */
import { readFileSync } from 'node:fs';
import { ConfigError, describeRejected } from './errors.js';

/** The variables the SMS and push channels are configured from (validated by the env schema, src/config/index.ts). */
export interface ChannelsEnv {
  NODE_ENV: 'development' | 'production' | 'test';
  SMS_TRANSPORT?: 'twilio' | 'console' | 'off';
  SMS_MAX_PER_HOUR: number;
  TWILIO_ACCOUNT_SID?: string;
  TWILIO_AUTH_TOKEN?: string;
  TWILIO_FROM?: string;
  TWILIO_MESSAGING_SERVICE_SID?: string;
  TWILIO_API_BASE?: string;
  PUSH_TRANSPORT: 'pull' | 'firebase';
  FIREBASE_CREDENTIALS?: string;
  FIREBASE_PROJECT_ID?: string;
  PUSH_MAX_PER_HOUR: number;
  PUSH_DENY_COOLDOWN_SECONDS: number;
}

export type SmsConfig =
  | { transport: 'console' | 'off'; maxPerHour: number }
  | {
      transport: 'twilio';
      accountSid: string;
      authToken: string;
      from: string | undefined;
      messagingServiceSid: string | undefined;
      /** Replaces https://api.twilio.com (tests point it at a local server). */
      apiBase: string | undefined;
      maxPerHour: number;
    };

/**
 * SMS_TRANSPORT: `console` by default outside production (prints codes, fills /dev/outbox), `off` by default
 * in production; `console` is refused there, and `twilio` needs its credentials and a sender.
 */
export function smsConfig(env: ChannelsEnv): SmsConfig {
  const production = env.NODE_ENV === 'production';
  const transport = env.SMS_TRANSPORT ?? (production ? 'off' : 'console');
  const maxPerHour = env.SMS_MAX_PER_HOUR;
  if (transport === 'console' && production) {
    throw new ConfigError(
      'SMS_TRANSPORT: console prints sign-in codes to the server output and is refused when NODE_ENV=production; set SMS_TRANSPORT=twilio (with TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID) or SMS_TRANSPORT=off',
    );
  }
  if (transport !== 'twilio') return { transport, maxPerHour };
  const missing = [
    env.TWILIO_ACCOUNT_SID ? null : 'TWILIO_ACCOUNT_SID',
    env.TWILIO_AUTH_TOKEN ? null : 'TWILIO_AUTH_TOKEN',
    env.TWILIO_FROM || env.TWILIO_MESSAGING_SERVICE_SID ? null : 'TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID',
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) throw new ConfigError(`SMS_TRANSPORT: twilio needs ${missing.join(', ')}`);
  if (production && env.TWILIO_API_BASE && !env.TWILIO_API_BASE.startsWith('https://')) {
    throw new ConfigError(`TWILIO_API_BASE: must be https:// when NODE_ENV=production ${describeRejected('TWILIO_API_BASE', env.TWILIO_API_BASE)}`);
  }
  return {
    transport,
    accountSid: env.TWILIO_ACCOUNT_SID!,
    authToken: env.TWILIO_AUTH_TOKEN!,
    from: env.TWILIO_FROM,
    messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
    apiBase: env.TWILIO_API_BASE,
    maxPerHour,
  };
}

export interface PushConfig {
  transport: 'pull' | 'firebase';
  /** Service-account JSON file (firebase). */
  credentialsFile: string | undefined;
  /** FIREBASE_PROJECT_ID, else the credentials file's project_id (firebase). */
  projectId: string | undefined;
  maxPerHour: number;
  denyCooldownSeconds: number;
}

/** PUSH_TRANSPORT=firebase needs a readable service-account file (FIREBASE_CREDENTIALS); checked at start-up. */
export function pushConfig(env: ChannelsEnv): PushConfig {
  const base = { maxPerHour: env.PUSH_MAX_PER_HOUR, denyCooldownSeconds: env.PUSH_DENY_COOLDOWN_SECONDS };
  if (env.PUSH_TRANSPORT === 'pull') return { transport: 'pull', credentialsFile: undefined, projectId: undefined, ...base };
  const file = env.FIREBASE_CREDENTIALS;
  if (!file) throw new ConfigError('FIREBASE_CREDENTIALS: PUSH_TRANSPORT=firebase needs the path of a Firebase service-account JSON file');
  let account: Record<string, unknown>;
  try {
    account = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`FIREBASE_CREDENTIALS: cannot read ${JSON.stringify(file)} as JSON: ${(err as Error).message}`);
  }
  const missing = ['project_id', 'client_email', 'private_key'].filter((k) => typeof account[k] !== 'string' || account[k] === '');
  if (account.type !== 'service_account' || missing.length > 0) {
    throw new ConfigError(
      `FIREBASE_CREDENTIALS: ${JSON.stringify(file)} is not a service-account key file (type "service_account"${missing.length ? `; missing ${missing.join(', ')}` : ''})`,
    );
  }
  return { transport: 'firebase', credentialsFile: file, projectId: env.FIREBASE_PROJECT_ID ?? (account.project_id as string), ...base };
}
