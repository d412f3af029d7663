/** `stepwise clients policy CLIENT_ID …`: sets a client's assurance policy and prints the result. */
import { parseArgs } from 'node:util';
import type { Container } from '../container.js';
import { clientPolicySchema, readClientPolicy, type ClientPolicy } from '../policy/client-policy.js';
import { AppError } from '../errors/index.js';

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
    },
  });
  const clientId = positionals[0];
  if (!clientId) throw new AppError('invalid_form', 'CLIENT_ID is required', 'client_id');
  const client = await c.clients.find(clientId);
  if (!client) throw new AppError('not_found', `no client ${clientId}`);
  const next: ClientPolicy = values.clear ? {} : { ...readClientPolicy(client) };
  if (values['min-acr'] !== undefined) {
    const known = c.levels.map((l) => l.acr);
    if (!known.includes(values['min-acr']) && !values['acr-level']?.some((a) => a.startsWith(`${values['min-acr']}=`))) {
      throw new AppError('invalid_form', `--min-acr must be one of ${known.join(', ')}`, 'min_acr');
    }
    next.min_acr = values['min-acr'];
  }
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
  if (values['pkce-optional']) {
    if (client.token_endpoint_auth_method === 'none') throw new AppError('invalid_form', '--pkce-optional: a public client always needs PKCE', 'pkce_optional');
    next.pkce_optional = true;
  }
  if (values['no-pkce-optional']) next.pkce_optional = false;
  if (values['sensitive-scopes'] !== undefined) {
    // Only configured API scopes: any other scope is dropped from requests, so listing it would protect nothing.
    const scopes = [...new Set(values['sensitive-scopes'].split(',').map((s) => s.trim()).filter(Boolean))];
    const known = c.config.apiScopes;
    const unknown = scopes.find((s) => !known.includes(s));
    if (unknown !== undefined) {
      const configured = known.length ? `STEPWISE_API_SCOPES is ${known.join(',')}` : 'STEPWISE_API_SCOPES is not set';
      throw new AppError('invalid_form', `--sensitive-scopes: ${unknown} is not an API scope (${configured})`, 'sensitive_scopes');
    }
    // An empty list removes the setting.
    if (scopes.length) next.sensitive_scopes = scopes;
    else delete next.sensitive_scopes;
  }
  const parsed = clientPolicySchema.safeParse(next);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError('invalid_form', `${issue.path.join('.') || 'policy'}: ${issue.message}`);
  }
  await c.clients.updateMetadata(clientId, { stepwise_policy: parsed.data });
  await c.audit.record({ type: 'client.policy.updated', outcome: 'success', clientId, details: { policy: parsed.data } });
  return { client_id: clientId, policy: parsed.data };
}
