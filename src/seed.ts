/**
 * Embedded demo: on an empty database, a demo user and client so `npm start` can be tried at once.
 * Their password and secret are published, so they are only seeded where nobody else can reach them:
 * the embedded SQLite store and a loopback issuer (see demoAllowed).
 */
import { isIP } from 'node:net';
import type { Container } from './container.js';
import { AppError } from './errors/index.js';
import type { Config } from './config/index.js';
import { createClient, createUser } from './admin/service.js';
import { INTERNAL_CLIENT_IDS } from './admin/console/session.js';

export const DEMO = {
  email: 'demo@stepwise.test',
  password: 'correct horse battery staple',
  clientId: 'demo-client',
  clientSecret: 'demo-client-secret-change-me',
};

/** `localhost`, 127.0.0.0/8 or [::1]. */
export function isLoopbackIssuer(issuer: string): boolean {
  let host: string;
  try {
    host = new URL(issuer).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === 'localhost' || host === '[::1]') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Seed the demo user and client: STEPWISE_DEMO (never in production), embedded SQLite, loopback issuer. */
export function demoAllowed(config: Pick<Config, 'demo' | 'database' | 'issuer'>): boolean {
  return config.demo && config.database.client === 'sqlite' && isLoopbackIssuer(config.issuer);
}

/**
 * Serve the `/demo` relying party: STEPWISE_DEMO and a loopback issuer. The store does not matter here (the
 * routes hold no published credential themselves; without the seeded client they cannot sign anyone in).
 */
export function demoRoutesAllowed(config: Pick<Config, 'demo' | 'issuer'>): boolean {
  return config.demo && isLoopbackIssuer(config.issuer);
}

export async function seedDemo(c: Container): Promise<string | null> {
  if (!demoAllowed(c.config)) return null;
  // Only on an empty database (the internal clients — account pages, admin console — do not count).
  if ((await c.users.count()) > 0 || (await c.clients.count()) > INTERNAL_CLIENT_IDS.size) return null;
  try {
    return await createDemoData(c);
  } catch (err) {
    // Another process started at the same moment seeded it first.
    if (err instanceof AppError && err.code === 'conflict') return null;
    throw err;
  }
}

/** Creates the demo user and client unconditionally (tests use it on a shared database). */
export async function createDemoData(c: Container): Promise<string> {
  await createUser(c, { email: DEMO.email, name: 'Demo User', password: DEMO.password, emailVerified: true });
  const redirect = `${c.config.issuer}/demo/callback`;
  await createClient(c, {
    clientId: DEMO.clientId,
    clientSecret: DEMO.clientSecret,
    name: 'Stepwise demo app',
    redirectUris: [redirect],
    postLogoutRedirectUris: [`${c.config.issuer}/demo`],
    firstParty: true,
  });
  // A password-only demo user asked to step up can set up a factor right there and continue.
  await c.clients.updateMetadata(DEMO.clientId, { stepwise_policy: { enroll_on_unmet: true } });
  return [
    'Seeded the embedded demo:',
    `  user:          ${DEMO.email} / ${DEMO.password}`,
    `  client:        ${DEMO.clientId} / ${DEMO.clientSecret} (first-party, code + PKCE)`,
    `  redirect_uri:  ${redirect}`,
    `  try it:        ${c.config.issuer}/demo`,
  ].join('\n');
}
