/** Embedded demo: on an empty database, a demo user and client so `npm start` can be tried at once. */
import type { Container } from './container.js';
import { createClient, createUser } from './admin/service.js';

export const DEMO = {
  email: 'demo@stepwise.test',
  password: 'correct horse battery staple',
  clientId: 'demo-client',
  clientSecret: 'demo-client-secret-change-me',
};

export async function seedDemo(c: Container): Promise<string | null> {
  // Only on an empty database (the internal account client does not count).
  if ((await c.users.count()) > 0 || (await c.clients.count()) > 1) return null;
  return createDemoData(c);
}

/** Creates the demo user and client unconditionally (tests use it on a shared database). */
export async function createDemoData(c: Container): Promise<string> {
  await createUser(c, { email: DEMO.email, name: 'Demo User', password: DEMO.password });
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
