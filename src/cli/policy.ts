/** `stepwise clients policy CLIENT_ID …`: sets a client's assurance policy and prints the result. */
import { parseArgs } from 'node:util';
import type { Container } from '../container.js';
import { readClientPolicy, type ClientPolicy } from '../policy/client-policy.js';
import { AppError } from '../errors/index.js';
import { setClientPolicy } from '../admin/clients.js';

export async function runClientPolicyCommand(c: Container, args: string[]): Promise<unknown> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      'min-acr': { type: 'string' },
      'allow-factors': { type: 'string' },
      'max-age-seconds': { type: 'string' },
      'acr-level': { type: 'string', multiple: true },
      'allow-lower-acr': { type: 'boolean' },
      'no-allow-lower-acr': { type: 'boolean' },
      'enroll-on-unmet': { type: 'boolean' },
      'no-enroll-on-unmet': { type: 'boolean' },
      'remembered-devices': { type: 'boolean' },
      'no-remembered-devices': { type: 'boolean' },
      'sensitive-scopes': { type: 'string' },
      'pkce-optional': { type: 'boolean' },
      'no-pkce-optional': { type: 'boolean' },
      clear: { type: 'boolean' },
      admin: { type: 'string' },
    },
  });
  const clientId = positionals[0];
  if (!clientId) throw new AppError('invalid_form', 'CLIENT_ID is required', 'client_id');
  const client = await c.clients.find(clientId);
  if (!client) throw new AppError('not_found', `no client ${clientId}`);
  const next: ClientPolicy = values.clear ? {} : { ...readClientPolicy(client) };
  if (values['min-acr'] !== undefined) next.min_acr = values['min-acr'];
  if (values['allow-factors'] !== undefined) next.allowed_factors = values['allow-factors'].split(',').map((s) => s.trim()) as ClientPolicy['allowed_factors'];
  if (values['max-age-seconds'] !== undefined) next.max_age_seconds = Number(values['max-age-seconds']);
  for (const pair of values['acr-level'] ?? []) {
    const [acr, level] = pair.split('=');
    next.acr_levels = { ...next.acr_levels, [acr ?? '']: Number(level) };
  }
  if (values['allow-lower-acr']) next.allow_lower_acr = true;
  if (values['no-allow-lower-acr']) next.allow_lower_acr = false;
  if (values['enroll-on-unmet']) next.enroll_on_unmet = true;
  if (values['no-enroll-on-unmet']) next.enroll_on_unmet = false;
  if (values['remembered-devices']) next.remembered_devices = true;
  if (values['no-remembered-devices']) next.remembered_devices = false;
  if (values['pkce-optional']) next.pkce_optional = true;
  if (values['no-pkce-optional']) next.pkce_optional = false;
  // An empty list removes the setting (the admin service drops it); only configured API scopes are accepted.
  if (values['sensitive-scopes'] !== undefined) next.sensitive_scopes = values['sensitive-scopes'].split(',').map((s) => s.trim()).filter(Boolean);
  // Validation (known acr, API scopes, PKCE for public clients, lock-out), audit and four eyes: the admin service.
  const result = await setClientPolicy(c, { id: values.admin?.trim() || 'cli' }, clientId, next);
  return result.status === 'applied' ? { client_id: clientId, policy: result.result.policy } : result;
}
