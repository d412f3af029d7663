/**
 * `stepwise` CLI: JSON on stdout, one-line errors on stderr, non-zero exit on failure.
 * Honours the same environment configuration as the server.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig as loadEnvConfig } from '../config/index.js';
import { buildContainer, type Container } from '../container.js';
import { createClient, createUser, type ClientAuthMethod } from '../admin/service.js';
import { AppError } from '../errors/index.js';
import { createDb, migrate } from '../store/db.js';
import { SecretBox } from '../security/crypto.js';
import { rotateEncryption } from '../security/rotate-encryption.js';
import { AuditLog } from '../audit/log.js';
import { runClientPolicyCommand } from './policy.js';
import { AUDIT_USAGE, runAuditCommand } from '../audit/cli.js';
import { setAdminRole } from '../admin/console/roles.js';
import { assertCheckDays, checkPolicy, explainSignIn, loadCandidatePolicy } from '../risk/cli-service.js';
import { DEVICE_USAGE, runDeviceCommand } from '../factors/push/device-client.js';
import { RECOVERY_USAGE, runRecoveryCommand } from '../recovery/cli.js';
import { ADMIN_USAGE, runAdminCommand } from '../admin/cli.js';
import { rotateKeys } from '../admin/keys.js';

const USAGE = `usage:
  stepwise migrate
  stepwise users create --email E [--name N] [--service-account]   (password read from stdin)
  stepwise users grant-admin EMAIL | users revoke-admin EMAIL   (the admin console role)
  stepwise clients create --redirect-uri URI [--redirect-uri URI...] [--post-logout-redirect-uri URI...]
                          [--public] [--first-party] [--name N] [--allowed-origin ORIGIN...] [--dpop]
                          [--logo-uri URL] [--policy-uri URL] [--tos-uri URL]   (shown on the sign-in and consent pages)
  stepwise clients policy CLIENT_ID [--min-acr ACR] [--allow-factors totp,webauthn,backup_code] [--max-age-seconds N]
                          [--acr-level NAME=LEVEL...] [--allow-lower-acr|--no-allow-lower-acr] [--enroll-on-unmet]
                          [--remembered-devices|--no-remembered-devices] [--sensitive-scopes a,b] [--clear]
  stepwise keys rotate
  stepwise keys rotate-encryption                       (re-encrypt secrets at rest with STEPWISE_ENCRYPTION_KEY)
${AUDIT_USAGE}
  stepwise risk explain --email E --ip IP --user-agent UA [--device-id ID] [--acr ACR]
                          [--scope "openid payments:write" --client CLIENT_ID]   (what a sign-in would get now; changes nothing)
  stepwise policy check FILE [--days 30]                (validate a policy file, replay recent sign-in decisions; exit 2 if invalid)
${RECOVERY_USAGE}
${ADMIN_USAGE}
${DEVICE_USAGE}`;

export class UsageError extends Error {}

export { USAGE };

/** Where the CLI reads and writes: the process by default, buffers in tests. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
  write(text: string): void;
}

export const processIo: CliIo = {
  env: process.env,
  async readStdin() {
    if (process.stdin.isTTY) throw new UsageError('pipe the password on stdin, e.g. `printf %s "$PASSWORD" | stepwise users create --email E`');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  },
  write: (text) => void process.stdout.write(text),
};

export async function run(argv: string[], io: CliIo = processIo): Promise<void> {
  const out = (value: unknown) => io.write(`${JSON.stringify(value, null, 2)}\n`);
  const loadConfig = () => loadEnvConfig(io.env);
  const readStdin = () => io.readStdin();
  const withContainer = async <T>(fn: (c: Container) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> => {
    const config = loadConfig();
    // Console SMS/mail transports print to stderr here: stdout carries the command's JSON only.
    const c = await buildContainer({ ...config, logLevel: 'silent' }, { migrate: opts.migrate ?? true, consoleWrite: (text) => void process.stderr.write(`${text}\n`) });
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  };
  const [noun, verb, ...rest] = argv;
  // Admin verbs (users, clients, approvals, keys list, audit search|export): the admin service layer.
  const admin = await runAdminCommand(noun, verb, rest, { withContainer, readStdin, write: io.write, usage: (m) => new UsageError(m) });
  if (admin.handled) {
    if (admin.output !== undefined) out(admin.output);
    return;
  }
  if (noun === 'device') {
    // The reference push device (acts like the phone app): no server configuration, only HTTP to the issuer.
    out(await runDeviceCommand(verb, rest, io.env));
    return;
  }
  if (noun === 'migrate') {
    const config = loadConfig();
    const db = createDb(config.database);
    try {
      out({ applied: await migrate(db) });
    } finally {
      await db.destroy();
    }
    return;
  }
  if (noun === 'users' && (verb === 'grant-admin' || verb === 'revoke-admin')) {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {}, strict: true });
    if (positionals.length !== 1) throw new UsageError(`users ${verb} takes one EMAIL`);
    await withContainer(async (c) => out(await setAdminRole(c, positionals[0]!, verb === 'grant-admin')));
    return;
  }
  if (noun === 'users' && verb === 'create') {
    const { values } = parseArgs({
      args: rest,
      options: { email: { type: 'string' }, name: { type: 'string' }, 'service-account': { type: 'boolean' } },
      strict: true,
    });
    if (!values.email) throw new UsageError('--email is required');
    const password = await readStdin();
    await withContainer(async (c) => out(await createUser(c, { email: values.email!, name: values.name, password, serviceAccount: values['service-account'] })));
    return;
  }
  if (noun === 'clients' && verb === 'create') {
    const { values } = parseArgs({
      args: rest,
      options: {
        'redirect-uri': { type: 'string', multiple: true },
        'post-logout-redirect-uri': { type: 'string', multiple: true },
        public: { type: 'boolean' },
        'first-party': { type: 'boolean' },
        name: { type: 'string' },
        'allowed-origin': { type: 'string', multiple: true },
        dpop: { type: 'boolean' },
        'auth-method': { type: 'string' },
        'backchannel-logout-uri': { type: 'string' },
        'logo-uri': { type: 'string' },
        'policy-uri': { type: 'string' },
        'tos-uri': { type: 'string' },
        jwks: { type: 'string' },
        'jwks-uri': { type: 'string' },
      },
      strict: true,
    });
    if (!values['redirect-uri']?.length) throw new UsageError('--redirect-uri is required');
    let jwks: unknown;
    if (values.jwks !== undefined) {
      try {
        jwks = JSON.parse(readFileSync(values.jwks, 'utf8'));
      } catch (err) {
        throw new AppError('invalid_form', `--jwks: cannot read a JWK Set from ${values.jwks}: ${(err as Error).message}`, 'jwks');
      }
    }
    await withContainer(async (c) =>
      out(
        await createClient(c, {
          redirectUris: values['redirect-uri']!,
          postLogoutRedirectUris: values['post-logout-redirect-uri'],
          public: values.public,
          firstParty: values['first-party'],
          name: values.name,
          allowedOrigins: values['allowed-origin'],
          dpop: values.dpop,
          authMethod: values['auth-method'] as ClientAuthMethod | undefined,
          jwks,
          jwksUri: values['jwks-uri'],
          backchannelLogoutUri: values['backchannel-logout-uri'],
          logoUri: values['logo-uri'],
          policyUri: values['policy-uri'],
          tosUri: values['tos-uri'],
        }),
      ),
    );
    return;
  }
  if (noun === 'clients' && verb === 'policy') {
    await withContainer((c) => runClientPolicyCommand(c, rest).then(out));
    return;
  }
  if (noun === 'keys' && verb === 'rotate') {
    await withContainer(async (c) => {
      const result = await rotateKeys(c, { id: 'cli' });
      out({ ...result, note: 'running IdP processes publish the new key within KEY_REFRESH_SECONDS and sign with it from activates_at; retired keys stay in JWKS for 24h' });
    });
    return;
  }
  if (noun === 'keys' && verb === 'rotate-encryption') {
    // Without the container: it would decrypt the signing keys at start-up, which may be what needs fixing.
    const config = loadConfig();
    const db = createDb(config.database);
    try {
      await migrate(db);
      const result = await rotateEncryption(db, SecretBox.fromSecrets(config.secrets));
      await new AuditLog(db).record({ type: 'keys.encryption_rotated', outcome: 'success', details: { ...result } });
      out({
        ...result,
        note:
          result.backup_codes.unused_not_under_current_key > 0
            ? 'backup codes cannot be re-keyed; they keep working after the previous keys are removed (by hash), until regenerated'
            : 'every secret is now sealed with the current key; previous keys can be removed from the configuration',
      });
    } finally {
      await db.destroy();
    }
    return;
  }
  if (noun === 'audit') {
    await runAuditCommand(verb, rest, { loadConfig, readStdin, out, usage: (m) => new UsageError(m) });
    return;
  }
  if (noun === 'risk' && verb === 'explain') {
    const { values } = parseArgs({
      args: rest,
      options: {
        email: { type: 'string' },
        ip: { type: 'string' },
        'user-agent': { type: 'string' },
        'device-id': { type: 'string' },
        acr: { type: 'string' },
        scope: { type: 'string' },
        client: { type: 'string' },
      },
      strict: true,
    });
    for (const flag of ['email', 'ip', 'user-agent'] as const) if (values[flag] === undefined) throw new UsageError(`--${flag} is required`);
    if (values.scope !== undefined && values.client === undefined) throw new UsageError('--scope needs --client (sensitive scopes are set per client)');
    await withContainer(async (c) =>
      out(
        await explainSignIn(c, {
          email: values.email!,
          ip: values.ip!,
          userAgent: values['user-agent']!,
          deviceId: values['device-id'],
          acr: values.acr,
          scope: values.scope,
          clientId: values.client,
        }),
      ),
    );
    return;
  }
  if (noun === 'recovery') {
    await withContainer(async (c) => out(await runRecoveryCommand(c, verb, rest, (m) => new UsageError(m))));
    return;
  }
  if (noun === 'policy' && verb === 'check') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { days: { type: 'string' } }, strict: true });
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'policy check takes one FILE' : 'FILE is required');
    const days = values.days === undefined ? 30 : /^\d{1,9}$/.test(values.days) ? Number(values.days) : NaN;
    assertCheckDays(days);
    const file = positionals[0]!;
    // Validated before the database is opened: an invalid file fails the same way with or without one.
    const candidate = loadCandidatePolicy(file);
    await withContainer(async (c) => out(await checkPolicy(c, { file, days, candidate })));
    return;
  }
  throw new UsageError(noun ? `unknown command: ${[noun, verb].filter(Boolean).join(' ')}` : 'missing command');
}

