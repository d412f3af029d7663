/** Wires config → stores → services → provider into one typed object. No module-level singletons. */
import type { Redis } from 'ioredis';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import { createDb, migrate, type Db } from './store/db.js';
import { createRedis } from './store/redis.js';
import { RedisKv, SqlKv, type KvStore } from './store/kv.js';
import { deferWritesPerRequest } from './store/kv-write-behind.js';
import { UsersRepo, findByEmailAnswersFindById } from './store/repos/users.js';
import { ClientsRepo } from './store/repos/clients.js';
import { SecretBox } from './security/crypto.js';
import { PasswordHasher } from './security/password.js';
import { Csrf } from './security/csrf.js';
import { createThrottles, defaultRules, type Throttle, type ThrottleName } from './security/rate-limit.js';
import { LoginGuard } from './security/login-guard.js';
import { KnownBrowsers } from './risk/known-browser.js';
import { AuditLog } from './audit/log.js';
import { CheckpointKeys } from './audit/checkpoint.js';
import { Checkpointer } from './audit/checkpointer.js';
import { createLogger } from './http/logger.js';
import { Metrics } from './metrics/registry.js';
import { countAuditEvents } from './metrics/from-audit.js';
import { observeProvider } from './metrics/from-provider.js';
import { SigningKeys } from './oidc/keys.js';
import { SqlAdapter, adapterFactory } from './oidc/adapters.js';
import { createProvider } from './oidc/provider.js';
import { withGrantEpoch } from './oidc/grant-epoch.js';
import { withRefreshDecay } from './oidc/refresh-decay.js';
import { buildInteractionPolicy } from './oidc/policy.js';
import { Views } from './http/views.js';
import { loadTheme } from './config/theme.js';
import { createI18n, type I18n } from './i18n/index.js';
import { AuthContextStore } from './interactions/auth-context.js';
import { SignInFlow } from './interactions/flow.js';
import { PasswordFactor } from './factors/password.js';
import type { LevelRule } from './policy/levels.js';
import { FactorsRepo, filterListsInMemory } from './store/repos/factors.js';
import { buildRegistry } from './factors/registry.js';
import { buildNotifier, type Notifier } from './notify/index.js';
import { buildMailer, type Mailer } from './notify/mail.js';
import { MailSecurityNotices, type SecurityNotices } from './notify/security-notices.js';
import { EmailVerification } from './account/email-verification.js';
import { createPushTransport, type FirebaseOverrides } from './notify/push.js';
import { FactorService } from './factors/service.js';
import { readAccountAssurance } from './factors/assurance.js';
import { RiskHistory } from './risk/history.js';
import { RiskCollector } from './risk/collector.js';
import { RiskService } from './risk/service.js';
import { GeoIp } from './risk/geoip.js';
import { DevicesRepo } from './store/repos/devices.js';
import { SignInsRepo } from './store/repos/sign-ins.js';
import { LoginFailuresRepo } from './store/repos/login-failures.js';
import { currentSession, ensureAccountClient } from './account/session.js';
import { ensureAdminClient } from './admin/console/session.js';
import { OneTimeLinks } from './security/one-time-link.js';
import { invalidateOnWrites, memoizeReads } from './store/request-cache.js';
import { followTableChanges } from './store/table-generations.js';
import { cacheAcrossRequests } from './store/shared-cache.js';
import { RecoveryEnrollment } from './recovery/enrollment.js';
import { UserSessions, withSessionGuard } from './oidc/user-sessions.js';
import { sessionIndex } from './oidc/adapters.js';
import { startKeyRefresh, type KeyRefresh } from './oidc/key-refresh.js';

export interface Container {
  config: Config;
  log: Logger;
  db: Db;
  redis: Redis | undefined;
  kv: KvStore;
  box: SecretBox;
  users: UsersRepo;
  clients: ClientsRepo;
  hasher: PasswordHasher;
  csrf: Csrf;
  audit: AuditLog;
  keys: SigningKeys;
  views: Views;
  levels: LevelRule[];
  throttles: Record<ThrottleName, Throttle>;
  knownBrowsers: KnownBrowsers;
  risk: RiskService;
  provider: Provider;
  flow: SignInFlow;
  factors: FactorsRepo;
  factorService: FactorService;
  /** Device records (risk engine); the account pages list and forget remembered devices. */
  devices: DevicesRepo;
  /** Delivery channels (SMS) and the development outbox. */
  notifier: Notifier;
  /** Single-use e-mail links (verification, reset, recovery). */
  links: OneTimeLinks;
  /** Prometheus metrics (own Registry), fed by audit and oidc-provider events (src/metrics/). */
  metrics: Metrics;
  /** The audit checkpoint signing key (and previous ones); the public half verifies exports. */
  auditKeys: CheckpointKeys;
  /** Periodic signed audit checkpoints into the log stream. */
  checkpointer: Checkpointer;
  /** The e-mail channel (MAIL_TRANSPORT: smtp | console | off; config.mail says which). */
  mailer: Mailer;
  /** Security notices to the address on file (never fail the action they report). */
  notices: SecurityNotices;
  /** E-mail verification links (new accounts, e-mail changes). */
  emailVerification: EmailVerification;
  /** Translations of the hosted pages, errors, SMS texts and e-mails (src/i18n/). */
  i18n: I18n;
  /** A user's SSO sessions: list, end one, end all (with back-channel logout). */
  userSessions: UserSessions;
  /** Keeps the provider's signing keys in step with the database (rotation without restart). */
  keyRefresh: KeyRefresh;
  /** The methods behind each SSO session's authentication context (what the login prompt's check judges). */
  sessionContexts: AuthContextStore;
  now: () => number;
  close(): Promise<void>;
}

export interface ContainerOptions {
  log?: Logger;
  now?: () => number;
  /** Where console SMS/mail transports print (default: the server's output). The CLI sends them to stderr so stdout stays JSON. */
  consoleWrite?: (text: string) => void;
  /** Run migrations at start (embedded default; the CLI's `migrate` does it explicitly). */
  migrate?: boolean;
  /** PUSH_TRANSPORT=firebase: a credential and HTTP agent for the SDK (tests point it at a local FCM server). */
  firebase?: FirebaseOverrides;
}

export async function buildContainer(config: Config, opts: ContainerOptions = {}): Promise<Container> {
  const log = opts.log ?? createLogger(config.logLevel);
  const now = opts.now ?? Date.now;
  const db = createDb(config.database);
  const redis = config.redisUrl ? createRedis(config.redisUrl, config.redisSentinel) : undefined;
  const closers: Array<() => Promise<unknown>> = [() => db.destroy()];
  if (redis) closers.unshift(() => redis.quit().catch(() => redis.disconnect()));
  const close = async () => {
    for (const c of closers) await c();
  };
  try {
    if (opts.migrate ?? true) await migrate(db);
    const box = SecretBox.fromSecrets(config.secrets);
    const kv: KvStore = redis ? new RedisKv(redis, `${config.redisPrefix}kv:`) : new SqlKv(db, now);
    // Within one request each distinct user/client/factor read runs once (src/store/request-cache.ts).
    invalidateOnWrites(db);
    // Across requests too, while the table's change counter stands still (src/store/shared-cache.ts).
    const changes = followTableChanges(config.database, log, db);
    if (changes) closers.unshift(() => changes.close());
    const users = memoizeReads(
      cacheAcrossRequests(new UsersRepo(db), 'users', ['findById', 'findByEmail'], changes, { primes: findByEmailAnswersFindById }),
      'users',
      ['findById', 'findByEmail'],
      '',
      findByEmailAnswersFindById,
    );
    const clients = memoizeReads(cacheAcrossRequests(new ClientsRepo(db, box), 'clients', ['find'], changes), 'clients', ['find']);
    const hasher = new PasswordHasher(config.argon2, config.argon2Concurrency);
    const auditKeys = CheckpointKeys.fromBox(box);
    const audit = new AuditLog(db, now, { keys: auditKeys });
    const metrics = new Metrics();
    countAuditEvents(audit, metrics);
    const { checkpointEveryEvents: everyEvents, checkpointIntervalMs: intervalMs } = config.ops.audit;
    const checkpointer = new Checkpointer({ db, audit, keys: auditKeys, log, now, onWritten: (c) => metrics.auditCheckpoints.inc({ kind: c.kind }) }, { everyEvents, intervalMs }).start();
    closers.unshift(() => checkpointer.stop());
    const keys = new SigningKeys(db, box);
    const theme = loadTheme(config.ui.themeDir);
    for (const warning of theme.warnings) log.warn(warning);
    const i18n = createI18n(config.ui.localesDir);
    const views = new Views(config.env !== 'development', theme);
    const levels = config.levels;
    const rules = defaultRules(config.login.maxFailures, { smsPerHour: config.sms.maxPerHour });
    const throttles: Container['throttles'] = await createThrottles(rules.throttles, { db, redis, prefix: config.redisPrefix });
    // The sign-in's own state — auth context, "keep me signed in", the known browser, the session's auth context
    // and authentication event — is written once per request, all of it in one store call (src/store/kv-write-behind.ts).
    const signInKv = deferWritesPerRequest(kv, ['authctx:', 'keep:', 'known-browser:', 'sessctx:', 'authn:']);
    const knownBrowsers = new KnownBrowsers(signInKv, { secure: config.issuer.startsWith('https://') });
    const sessions = new AuthContextStore(signInKv, 'sessctx:', config.sessionTtlSeconds);
    // Authentication events live as long as a refresh chain may (refreshes re-derive acr/amr from them).
    const events = new AuthContextStore(signInKv, 'authn:', config.refreshTokenMaxLifetimeSeconds + config.sessionTtlSeconds);
    // Factor lists across requests too (each kind's list cut from the user's one list); single factors
    // (WebAuthn counters, TOTP steps) are always read fresh.
    const factors = filterListsInMemory(memoizeReads(cacheAcrossRequests(new FactorsRepo(db), 'factors', ['listByUser'], changes), 'factors', ['listByUser', 'findById']));
    const notifier = buildNotifier(config, { log, now, write: opts.consoleWrite });
    const mailer = buildMailer(config, { outbox: notifier.outbox, log, write: opts.consoleWrite });
    closers.unshift(async () => mailer.close?.());
    const sms = {
      sender: notifier.sms,
      available: notifier.smsAvailable,
      audit,
      throttles: { perNumber: throttles.smsNumber, perAccount: throttles.smsAccount, global: throttles.smsGlobal, sendGate: throttles.smsSendGate, codeTries: throttles.smsCodeTries },
    };
    const pushTransport = await createPushTransport(config.push, { log, firebase: opts.firebase });
    closers.unshift(() => pushTransport.close());
    const push = { transport: pushTransport, now, audit, log };
    const factorService = new FactorService(buildRegistry({ config, db, factors, kv, box, sms, push }), factors, throttles.factorAccount, audit, (userId, event, x) => void notices.send(userId, event, x));
    const accounts = (accountId: string) => readAccountAssurance(factorService, accountId);
    const failures = new LoginFailuresRepo(db);
    const devices = new DevicesRepo(db);
    const geoip = config.geoipDb ? await GeoIp.open(config.geoipDb) : null;
    const notices = new MailSecurityNotices({ users, mailer, audit, log, geoip, issuer: config.issuer, enabled: config.mail.transport !== 'off', now });
    const collector = new RiskCollector({
      history: new RiskHistory(db),
      devices,
      signIns: new SignInsRepo(db),
      failures,
      geoip,
      policy: config.risk,
    });
    const risk = new RiskService({
      collector, users, factorService, knownBrowsers, audit, now,
      onNewDevice: (userId, { ip, device }) => void notices.send(userId, 'new_device_sign_in', { ip, details: { device } }),
    });
    const provider = createProvider({
      config,
      users,
      views,
      jwks: await keys.ensure(),
      adapter: adapterFactory({
        db,
        redis,
        clients,
        prefix: `${config.redisPrefix}oidc:`,
        decorate: (name, adapter) => {
          if (name === 'Grant') return withGrantEpoch(adapter, { users, now });
          if (name === 'Session') return withSessionGuard(adapter, { now, kv });
          if (name === 'RefreshToken') return withRefreshDecay(adapter, { events, clients, levels, accounts, now });
          return adapter;
        },
      }),
      levels,
      policy: buildInteractionPolicy({ levels, sessions, events, risk, now }),
      uiLocales: i18n.supported,
    });
    observeProvider(provider, metrics, log);
    const keyRefresh = await startKeyRefresh({ provider, keys, refreshSeconds: config.keys.refreshSeconds, log });
    closers.unshift(async () => keyRefresh.stop());
    const userSessions = new UserSessions({ provider, index: sessionIndex({ db, redis, prefix: `${config.redisPrefix}oidc:` }), kv, audit, log });
    // The language switcher remembers a signed-in user's choice (users.locale) for mails sent without their request.
    i18n.onLocalePicked(async (ctx, locale) => {
      const session = await currentSession(provider, ctx);
      if (session) await users.rememberLocale(session.accountId, locale).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'i18n: could not remember the language'));
    });
    await ensureAccountClient(clients, config);
    await ensureAdminClient(clients, config);
    const authContexts = new AuthContextStore(signInKv);
    const flow = new SignInFlow({
      provider,
      authContexts,
      sessions,
      password: new PasswordFactor(users, hasher),
      loginGuard: new LoginGuard({ throttles, strangerDelay: rules.strangerDelay, knownBrowsers, users }),
      knownBrowsers,
      risk,
      kv: signInKv,
      audit,
      clients,
      users,
      factorService,
      levels,
      now,
      recoveryEnrollment: new RecoveryEnrollment({ db, audit, now, changes }),
    });
    // Failed-attempt records matter for the velocity window only (minutes); keep a day, on every store.
    const failureSweep = setInterval(() => void failures.sweep(now() - 24 * 3600 * 1000).catch(() => undefined), 60 * 60 * 1000);
    failureSweep.unref();
    closers.unshift(async () => clearInterval(failureSweep));
    if (!redis) {
      // Embedded mode: expired artifacts live in SQL tables, so sweep them periodically.
      const timer = setInterval(() => {
        void SqlAdapter.sweep(db).catch(() => undefined);
        void (kv as SqlKv).sweep().catch(() => undefined);
      }, 10 * 60 * 1000);
      timer.unref();
      closers.unshift(async () => clearInterval(timer));
    }
    const links = new OneTimeLinks(kv, now);
    const emailVerification = new EmailVerification({ config, links, mailer, kv, users, audit, notices, log, now });
    return { config, log, db, redis, kv, box, users, clients, hasher, csrf: new Csrf(box), audit, keys, views, levels, throttles, knownBrowsers, risk, provider, flow, factors, factorService, devices, notifier, links, mailer, notices, emailVerification, i18n, userSessions, keyRefresh, sessionContexts: sessions, metrics, auditKeys, checkpointer, now, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
