/**
 * Configuration: read from the environment once at start-up, validated with zod.
 * Nothing else in the codebase reads process.env.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_LEVELS, type LevelRule } from '../policy/levels.js';
import { loadLevelsFile } from './levels-file.js';
import { loadPolicyFile } from '../risk/policy-file.js';
import type { RiskPolicy } from '../risk/types.js';
import { MAX_PROXY_HOPS, parseProxyCidr, type TrustProxy } from '../security/client-ip.js';
import { mailConfig, type MailConfig } from './mail.js';
import { uiConfig, type UiConfig } from './theme.js';
import { keysConfig, type KeysConfig } from './keys.js';
import { redisSentinelConfig, type RedisSentinelConfig } from './redis.js';
import { opsConfig, type OpsConfig } from './ops.js';

/** Defaults, with loa1 lasting as long as the session itself. */
function sessionBoundLevels(sessionTtl: number): LevelRule[] {
  return DEFAULT_LEVELS.map((l) => (l.acr === 'loa1' ? { ...l, maxAgeSeconds: sessionTtl } : { ...l, maxAgeSeconds: Math.min(l.maxAgeSeconds, sessionTtl) }));
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const intFromEnv = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

const boolFromEnv = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * TRUST_PROXY: `false` (default), a hop count 1..10 (`true` is a deprecated synonym for 1), or a
 * comma-separated list of proxy addresses/CIDRs.
 */
const trustProxyFromEnv = z
  .string()
  .default('false')
  .transform((raw, ctx): TrustProxy => {
    const v = raw.trim().toLowerCase();
    if (v === '' || v === 'false' || v === '0' || v === 'no') return false;
    if (v === 'true' || v === 'yes') return { hops: 1 };
    if (/^\d+$/.test(v)) {
      const hops = Number(v);
      if (hops <= MAX_PROXY_HOPS) return { hops };
      ctx.addIssue({ code: 'custom', message: `a hop count must be 1 to ${MAX_PROXY_HOPS}` });
      return z.NEVER;
    }
    const cidrs: string[] = [];
    for (const entry of v.split(',').map((e) => e.trim()).filter(Boolean)) {
      const cidr = parseProxyCidr(entry);
      if (!cidr) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not an IP address or CIDR; use false, a hop count 1-${MAX_PROXY_HOPS}, or proxy addresses like 10.0.0.0/8,::1` });
        return z.NEVER;
      }
      cidrs.push(cidr);
    }
    return cidrs.length > 0 ? { cidrs } : false;
  });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: intFromEnv(3000, 0, 65535),
  WEB_CONCURRENCY: intFromEnv(1, 1, 64),
  HOST: z.string().min(1).default('0.0.0.0'),
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z.string().min(1).default('./data/stepwise.sqlite'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, : _ - only').default('stepwise:'),
  STEPWISE_SECRETS_FILE: z.string().min(1).optional(),
  STEPWISE_COOKIE_KEYS: z.string().min(1).optional(),
  STEPWISE_ENCRYPTION_KEY: z.string().min(1).optional(),
  STEPWISE_ENCRYPTION_KEY_PREVIOUS: z.string().optional(),
  STEPWISE_DEMO: boolFromEnv(true),
  TRUST_PROXY: trustProxyFromEnv,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ARGON2_MEMORY_KIB: intFromEnv(19456, 7168, 4_194_304),
  ARGON2_TIME_COST: intFromEnv(2, 1, 20),
  ARGON2_PARALLELISM: intFromEnv(1, 1, 16),
  PASSWORD_MIN_LENGTH: intFromEnv(8, 8, 64),
  LOGIN_MAX_FAILURES: intFromEnv(10, 1, 100),
  WEBAUTHN_RP_ID: z.string().min(1).optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).default('Stepwise'),
  SESSION_TTL_SECONDS: intFromEnv(14 * 24 * 3600, 300, 30 * 24 * 3600),
  REAUTH_WINDOW_SECONDS: intFromEnv(300, 30, 3600),
  REFRESH_TOKEN_MAX_LIFETIME_SECONDS: intFromEnv(30 * 24 * 3600, 3600, 365 * 24 * 3600),
  STEPWISE_REQUIRE_MFA: boolFromEnv(false),
  STEPWISE_LEVELS_FILE: z.string().min(1).optional(),
  STEPWISE_POLICY_FILE: z.string().min(1).optional(),
  GEOIP_DB: z.string().min(1).optional(),
  ALLOW_PRIVATE_OUTBOUND: boolFromEnv(false),
  STEPWISE_API_SCOPES: z
    .string()
    .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( *, *[\x21\x23-\x5B\x5D-\x7E]+)*$/, 'comma-separated scope names (RFC 6749 scope characters, no spaces)')
    .optional(),
  SMS_TRANSPORT: z.enum(['twilio', 'console', 'off']).optional(),
  SMS_MAX_PER_HOUR: intFromEnv(1000, 1, 1_000_000),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'a Twilio Account SID: AC followed by 32 hex digits').optional(),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional(),
  TWILIO_FROM: z
    .string()
    .regex(/^(\+[1-9][0-9]{6,14}|[A-Za-z0-9 ]{1,11})$/, 'an E.164 number (+14155550123) or an alphanumeric sender id (at most 11 letters and digits)')
    .optional(),
  TWILIO_MESSAGING_SERVICE_SID: z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'a Messaging Service SID: MG followed by 32 hex digits').optional(),
  TWILIO_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
  PUSH_TRANSPORT: z.enum(['pull', 'firebase']).default('pull'),
  FIREBASE_CREDENTIALS: z.string().min(1).optional(),
  FIREBASE_PROJECT_ID: z.string().regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]$/, 'a Firebase project id (lower-case letters, digits, -)').optional(),
  PUSH_MAX_PER_HOUR: intFromEnv(5, 1, 100),
  PUSH_DENY_COOLDOWN_SECONDS: intFromEnv(900, 0, 24 * 3600),
});

export interface Secrets {
  /** Keygrip keys for cookie signing; first one signs, all verify. */
  cookieKeys: string[];
  /** 32-byte master key for secrets at rest (HKDF derives the encryption and MAC subkeys); seals new values. */
  encryptionKey: Buffer;
  /** Earlier master keys, during a rotation: they still open old values (`stepwise keys rotate-encryption`). */
  previousEncryptionKeys: Buffer[];
}

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  /** Worker processes sharing the port (node:cluster) and the stores; 1 = this process serves. */
  webConcurrency: number;
  host: string;
  issuer: string;
  database: { client: 'pg'; connection: string } | { client: 'sqlite'; filename: string };
  redisUrl: string | undefined;
  /** REDIS_SENTINELS: reach Redis through Sentinel; REDIS_URL's host is then the master group (src/config/redis.ts). */
  redisSentinel?: RedisSentinelConfig;
  /** Key prefix for everything Stepwise stores in Redis (lets several deployments share one Redis). */
  redisPrefix: string;
  secrets: Secrets;
  demo: boolean;
  /** Which X-Forwarded-* senders to believe (src/security/client-ip.ts). */
  trustProxy: TrustProxy;
  logLevel: string;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  password: { minLength: number; maxLength: number };
  login: { maxFailures: number };
  webauthn: { rpID: string; rpName: string; origin: string };
  sessionTtlSeconds: number;
  reauthWindowSeconds: number;
  /** Absolute lifetime of a refresh-token chain, counted from its first issue (rotation does not extend it). */
  refreshTokenMaxLifetimeSeconds: number;
  /** Assurance level table (defaults from DESIGN.md unless STEPWISE_LEVELS_FILE is set). */
  levels: LevelRule[];
  /** Every user must keep a second factor once enrolled (the last one cannot be removed). */
  requireMfa: boolean;
  /** Risk and MFA-enforcement policy (STEPWISE_POLICY_FILE, else policy/default.yaml). */
  risk: RiskPolicy;
  /** MaxMind-format database for the location signals; unset: location is "unknown", never an error. */
  geoipDb: string | undefined;
  /**
   * The IdP's own outgoing requests (back-channel logout tokens, a client's jwks_uri) may reach loopback
   * and private addresses. Off: oidc-provider's SSRF guard refuses them. Development and tests only.
   */
  allowPrivateOutbound: boolean;
  /** API scopes the provider accepts besides the OIDC ones (a client's sensitive_scopes come from these). */
  apiScopes: string[];
  /** SMS codes: transport and the total send quota (src/notify/). */
  sms: SmsConfig;
  /** Push approval: transport and fatigue limits (src/notify/push.ts, src/factors/push/). */
  push: PushConfig;
  /** E-mail: transport (smtp | console | off) and sender (src/config/mail.ts, src/notify/mail.ts). */
  mail: MailConfig;
  /** Signing-key refresh and rotation timing (KEY_REFRESH_SECONDS, KEY_ACTIVATION_DELAY_SECONDS), src/config/keys.ts. */
  keys: KeysConfig;
  /** Hosted pages: theme folder (STEPWISE_THEME_DIR) and extra message catalogs (STEPWISE_LOCALES_DIR), src/config/theme.ts. */
  ui: UiConfig;
  /** /metrics exposure and audit checkpoints (src/config/ops.ts). */
  ops: OpsConfig;
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
function smsConfig(env: z.infer<typeof envSchema>): SmsConfig {
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

const secretsFileSchema = z.object({
  cookieKeys: z.array(z.string().min(32)).min(1),
  encryptionKey: z.string().min(1),
  previousEncryptionKeys: z.array(z.string().min(1)).optional(),
});

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
function pushConfig(env: z.infer<typeof envSchema>): PushConfig {
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

function parseEncryptionKey(raw: string, source: string): Buffer {
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(`${source}: encryption key must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
  }
  return key;
}

function parsePreviousKeys(raw: string | undefined, source: string): Buffer[] {
  return (raw ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k, i) => parseEncryptionKey(k, `${source} (key ${i + 1})`));
}

function generateSecrets(): { cookieKeys: string[]; encryptionKey: string } {
  return {
    cookieKeys: [randomBytes(32).toString('base64url')],
    encryptionKey: randomBytes(32).toString('base64'),
  };
}

function loadSecrets(env: z.infer<typeof envSchema>, dataDir: string): Secrets {
  const { previousEncryptionKeys, ...current } = loadCurrentSecrets(env, dataDir);
  return {
    ...current,
    previousEncryptionKeys: [...previousEncryptionKeys, ...parsePreviousKeys(env.STEPWISE_ENCRYPTION_KEY_PREVIOUS, 'STEPWISE_ENCRYPTION_KEY_PREVIOUS')],
  };
}

function loadCurrentSecrets(env: z.infer<typeof envSchema>, dataDir: string): Secrets {
  if (env.STEPWISE_COOKIE_KEYS && env.STEPWISE_ENCRYPTION_KEY) {
    const cookieKeys = env.STEPWISE_COOKIE_KEYS.split(',').map((k) => k.trim()).filter(Boolean);
    if (cookieKeys.some((k) => k.length < 32)) {
      throw new ConfigError('STEPWISE_COOKIE_KEYS: each comma-separated key must be at least 32 characters');
    }
    return { cookieKeys, encryptionKey: parseEncryptionKey(env.STEPWISE_ENCRYPTION_KEY, 'STEPWISE_ENCRYPTION_KEY'), previousEncryptionKeys: [] };
  }
  if (env.STEPWISE_COOKIE_KEYS || env.STEPWISE_ENCRYPTION_KEY) {
    throw new ConfigError('STEPWISE_COOKIE_KEYS and STEPWISE_ENCRYPTION_KEY must be set together');
  }
  let file = env.STEPWISE_SECRETS_FILE;
  if (!file) {
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(
        'STEPWISE_SECRETS_FILE (or STEPWISE_COOKIE_KEYS + STEPWISE_ENCRYPTION_KEY) is required when NODE_ENV=production',
      );
    }
    // Embedded mode: generate once next to the database so restarts keep sessions and encrypted data readable.
    file = resolve(dataDir, 'secrets.json');
  }
  // Outside production a secrets file that does not exist yet (the default one, or one named explicitly)
  // is generated once; in production it must exist.
  if (!existsSync(file) && env.NODE_ENV !== 'production') {
    // Owner-only: the directory also holds the SQLite database (src/store/db.ts uses the same mode).
    mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(generateSecrets(), null, 2), { mode: 0o600, flag: 'wx' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`STEPWISE_SECRETS_FILE: cannot read ${file}: ${(err as Error).message}`);
  }
  const result = secretsFileSchema.safeParse(parsed);
  if (!result.success) {
    throw new ConfigError(
      `STEPWISE_SECRETS_FILE: ${file} must hold {"cookieKeys": [..32+ chars], "encryptionKey": base64, "previousEncryptionKeys"?: [base64]}`,
    );
  }
  return {
    cookieKeys: result.data.cookieKeys,
    encryptionKey: parseEncryptionKey(result.data.encryptionKey, 'STEPWISE_SECRETS_FILE'),
    previousEncryptionKeys: (result.data.previousEncryptionKeys ?? []).map((k, i) =>
      parseEncryptionKey(k, `STEPWISE_SECRETS_FILE previousEncryptionKeys[${i}]`),
    ),
  };
}

/** Variables whose values are never echoed in errors (keys, secrets, tokens, passwords)... */
const SECRET_NAME = /SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL/i;
/** ...except settings *about* them: a duration, a length or a file path (e.g. PASSWORD_MIN_LENGTH). */
const ABOUT_A_SECRET = /_(SECONDS|LENGTH|FILE)$/i;

/** `postgres://user:pw@host/db` → `postgres://user:***@host/db` (a user without a password is hidden too). */
export function redactUrlCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}***@`;
  });
}

/** How a rejected value is shown in a configuration error: quoted, credentials redacted, secrets only by length. */
export function describeRejected(name: string, value: string): string {
  if (SECRET_NAME.test(name) && !ABOUT_A_SECRET.test(name)) return `(got a value of ${value.length} characters)`;
  return `(got ${JSON.stringify(redactUrlCredentials(value))})`;
}

/** Loads and validates configuration; throws ConfigError with one line naming the bad variable. */
export function loadConfig(raw: NodeJS.ProcessEnv = process.env): Config {
  // An empty value means unset, everywhere (`REDIS_URL=` in an .env file).
  const source: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = issue.path.join('.');
    const value = source[name];
    throw new ConfigError(`${name}: ${issue.message}${value !== undefined ? ` ${describeRejected(name, value)}` : ''}`);
  }
  const env = result.data;
  const issuer = (env.ISSUER ?? `http://localhost:${env.PORT}`).replace(/\/$/, '');
  const isPg = /^postgres(ql)?:\/\//.test(env.DATABASE_URL);
  const sqliteFile = env.DATABASE_URL.replace(/^sqlite:(\/\/)?/, '');
  const dataDir = isPg || sqliteFile === ':memory:' ? resolve('./data') : dirname(resolve(sqliteFile));
  if (env.NODE_ENV === 'production' && !issuer.startsWith('https://')) {
    throw new ConfigError(`ISSUER: must be https:// when NODE_ENV=production ${describeRejected('ISSUER', issuer)}`);
  }
  const issuerUrl = new URL(issuer);
  if (env.NODE_ENV === 'production' && env.ALLOW_PRIVATE_OUTBOUND) {
    throw new ConfigError('ALLOW_PRIVATE_OUTBOUND: refused when NODE_ENV=production (it disables the SSRF guard of outgoing requests)');
  }
  const filePolicy = loadPolicyFile(env.STEPWISE_POLICY_FILE);
  const risk: RiskPolicy = env.STEPWISE_REQUIRE_MFA ? { ...filePolicy, mfaEnforcement: { ...filePolicy.mfaEnforcement, allUsers: true } } : filePolicy;
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    webConcurrency: env.WEB_CONCURRENCY,
    host: env.HOST,
    issuer,
    database: isPg ? { client: 'pg', connection: env.DATABASE_URL } : { client: 'sqlite', filename: sqliteFile },
    redisUrl: env.REDIS_URL,
    redisSentinel: redisSentinelConfig(source, (m) => new ConfigError(m)),
    redisPrefix: env.REDIS_PREFIX,
    secrets: loadSecrets(env, dataDir),
    demo: env.STEPWISE_DEMO && env.NODE_ENV !== 'production',
    trustProxy: env.TRUST_PROXY,
    logLevel: env.LOG_LEVEL,
    argon2: { memoryCost: env.ARGON2_MEMORY_KIB, timeCost: env.ARGON2_TIME_COST, parallelism: env.ARGON2_PARALLELISM },
    password: { minLength: env.PASSWORD_MIN_LENGTH, maxLength: 256 },
    login: { maxFailures: env.LOGIN_MAX_FAILURES },
    webauthn: { rpID: env.WEBAUTHN_RP_ID ?? issuerUrl.hostname, rpName: env.WEBAUTHN_RP_NAME, origin: issuerUrl.origin },
    sessionTtlSeconds: env.SESSION_TTL_SECONDS,
    reauthWindowSeconds: env.REAUTH_WINDOW_SECONDS,
    refreshTokenMaxLifetimeSeconds: env.REFRESH_TOKEN_MAX_LIFETIME_SECONDS,
    levels: env.STEPWISE_LEVELS_FILE ? loadLevelsFile(env.STEPWISE_LEVELS_FILE) : sessionBoundLevels(env.SESSION_TTL_SECONDS),
    // STEPWISE_REQUIRE_MFA is the deprecated alias of mfa_enforcement.all_users: true; either way the last
    // second factor cannot be removed.
    requireMfa: env.STEPWISE_REQUIRE_MFA || risk.mfaEnforcement.allUsers,
    risk,
    geoipDb: env.GEOIP_DB,
    allowPrivateOutbound: env.ALLOW_PRIVATE_OUTBOUND,
    apiScopes: env.STEPWISE_API_SCOPES ? [...new Set(env.STEPWISE_API_SCOPES.split(',').map((x) => x.trim()).filter(Boolean))] : [],
    sms: smsConfig(env),
    push: pushConfig(env),
    mail: mailConfig(source, env.NODE_ENV, (m) => new ConfigError(m)),
    keys: keysConfig(source, (m) => new ConfigError(m)),
    ui: uiConfig(source),
    ops: opsConfig(source, env.NODE_ENV, (m) => new ConfigError(m)),
  };
}
