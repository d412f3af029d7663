/**
 * The baseline for `npm run bench`: bare oidc-provider (the same version Stepwise runs) with what a user
 * would build instead of Stepwise — a minimal password interaction (and an optional TOTP step) verifying the
 * *same* argon2id hash with the same parameters, the same RSA-2048 signing key type, refresh-token rotation,
 * client_credentials, userinfo and introspection, on the same store (Stepwise's own SQL/Redis adapters, so
 * the store costs the same on both sides). No policy, no risk engine, no audit, no throttles.
 *
 * Child-process entry; configured by environment (see bench/perf/main.ts):
 *   PORT, ISSUER, DATABASE_URL (file path or postgres://), REDIS_URL, REDIS_PREFIX, BASELINE_SEED (JSON file:
 *   { clientId, clientSecret, redirectUri, users: [{ id, email, passwordHash, totpSecret? }] }),
 *   ARGON2_MEMORY_KIB / ARGON2_TIME_COST / ARGON2_PARALLELISM.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import type { Context } from 'koa';
import { verify } from '@node-rs/argon2';
import { verifySync as verifyTotp } from 'otplib';
import { createDb, migrate } from '../../src/store/db.js';
import { createRedis } from '../../src/store/redis.js';
import { adapterFactory } from '../../src/oidc/adapters.js';
import { ClientsRepo } from '../../src/store/repos/clients.js';
import { SecretBox } from '../../src/security/crypto.js';

interface SeedUser {
  id: string;
  email: string;
  passwordHash: string;
  totpSecret?: string;
}
interface Seed {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  users: SeedUser[];
}

const env = process.env;
const seed = JSON.parse(readFileSync(env.BASELINE_SEED!, 'utf8')) as Seed;
const byEmail = new Map(seed.users.map((u) => [u.email, u]));
const byId = new Map(seed.users.map((u) => [u.id, u]));
const lastTotpStep = new Map<string, number>(); // the same single-use rule for a TOTP step Stepwise applies

const url = env.DATABASE_URL!;
const db = createDb(url.startsWith('postgres') ? { client: 'pg', connection: url } : { client: 'sqlite', filename: url });
await migrate(db);
const redis = env.REDIS_URL ? createRedis(env.REDIS_URL) : undefined;
const box = SecretBox.fromSecrets({ encryptionKey: randomBytes(32), previousEncryptionKeys: [] });

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'baseline', alg: 'RS256', use: 'sig' };

const provider = new Provider(env.ISSUER!, {
  adapter: adapterFactory({ db, redis, clients: new ClientsRepo(db, box), prefix: `${env.REDIS_PREFIX ?? ''}oidc:` }),
  clients: [
    {
      client_id: seed.clientId,
      client_secret: seed.clientSecret,
      redirect_uris: [seed.redirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      scope: 'openid offline_access email api:read',
    },
  ],
  scopes: ['openid', 'offline_access', 'email', 'api:read'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  jwks: { keys: [jwk as never] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400, RefreshToken: 14 * 86400, ClientCredentials: 600 },
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  rotateRefreshToken: true,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const user = byId.get(id);
    if (!user) return undefined;
    return { accountId: id, claims: () => ({ sub: id, email: user.email, email_verified: true }) };
  },
});
provider.proxy = false;

const argon = { memoryCost: Number(env.ARGON2_MEMORY_KIB ?? 19456), timeCost: Number(env.ARGON2_TIME_COST ?? 2), parallelism: Number(env.ARGON2_PARALLELISM ?? 1) };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (uid: string, step: 'login' | 'totp', error = '') =>
  `<!doctype html><title>Sign in</title>${error ? `<p>${esc(error)}</p>` : ''}<form method="post" action="/interaction/${uid}/${step}">` +
  (step === 'login' ? '<input name="email"><input name="password" type="password">' : '<input name="code">') +
  '<button>Continue</button></form>';

async function readForm(ctx: Context): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Grants what was asked (a first-party app: no consent page) and returns to the authorization endpoint. */
async function finish(ctx: Context, accountId: string) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id as string });
  grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  const grantId = await grant.save();
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([\w-]+)(?:\/(login|totp))?$/.exec(ctx.path);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const uid = m[1]!;
  ctx.type = 'html';
  if (ctx.method === 'GET') {
    ctx.body = page(uid, details.result?.pendingTotp ? 'totp' : 'login');
    return;
  }
  const form = await readForm(ctx);
  if (m[2] === 'login') {
    const user = byEmail.get(form.get('email') ?? '');
    const ok = user ? await verify(user.passwordHash, form.get('password') ?? '', argon) : false;
    if (!user || !ok) {
      ctx.body = page(uid, 'login', 'Incorrect email or password.');
      return;
    }
    if (!user.totpSecret) return finish(ctx, user.id);
    await provider.interactionResult(ctx.req, ctx.res, { pendingTotp: user.id }, { mergeWithLastSubmission: true });
    ctx.body = page(uid, 'totp');
    return;
  }
  const userId = details.result?.pendingTotp as string | undefined;
  const user = userId ? byId.get(userId) : undefined;
  const code = form.get('code') ?? '';
  const result = user?.totpSecret
    ? verifyTotp({ secret: user.totpSecret, token: code, epoch: Math.floor(Date.now() / 1000), epochTolerance: 30, period: 30, digits: 6, algorithm: 'sha1' })
    : { valid: false as const };
  const step = result.valid && 'timeStep' in result ? (result.timeStep as number) : -1;
  if (!user || step < 0 || (lastTotpStep.get(user.id) ?? -1) >= step) {
    ctx.body = page(uid, 'totp', 'That code is not valid.');
    return;
  }
  lastTotpStep.set(user.id, step);
  return finish(ctx, user.id);
});

const server = provider.listen(Number(env.PORT), '127.0.0.1');
const stop = () => server.close(() => void Promise.all([db.destroy(), redis?.quit()]).finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
