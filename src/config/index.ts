/**
 * Configuration: read from the environment once at start-up, validated with zod.
 * Nothing else in the codebase reads process.env.
 */
import { availableParallelism } from 'node:os';
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
import { ConfigError, describeRejected } from './errors.js';
import { loadSecrets, type Secrets } from './secrets.js';
import { pushConfig, smsConfig, type PushConfig, type SmsConfig } from './channels.js';

export { ConfigError, describeRejected, redactUrlCredentials } from './errors.js';
export type { Secrets } from './secrets.js';
export type { PushConfig, SmsConfig } from './channels.js';

/** Defaults, with loa1 lasting as long as the session itself. */
function sessionBoundLevels(sessionTtl: number): LevelRule[] {
  return DEFAULT_LEVELS.map((l) => (l.acr === 'loa1' ? { ...l, maxAgeSeconds: sessionTtl } : { ...l, maxAgeSeconds: Math.min(l.maxAgeSeconds, sessionTtl) }));
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
  ARGON2_CONCURRENCY: intFromEnv(availableParallelism(), 1, 256),
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
  /** How many argon2id hashes run at once (src/security/password.ts); the others wait their turn. */
  argon2Concurrency: number;
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
    argon2Concurrency: env.ARGON2_CONCURRENCY,
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
