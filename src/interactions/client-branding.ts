/**
 * What the sign-in and consent pages show of a client: its logo, privacy policy and terms (registered
 * metadata logo_uri, policy_uri, tos_uri). Only absolute http(s) URLs are shown — registration validates
 * them (https in production); this guards rows written before that check.
 */
import { AppError } from '../errors/index.js';
export interface ClientBranding {
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
}

function webUrl(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > 2000) return undefined;
  const url = URL.parse(v);
  return url && (url.protocol === 'https:' || url.protocol === 'http:') ? url.href : undefined;
}

export function clientBranding(client: Record<string, unknown> | null | undefined): ClientBranding {
  if (!client) return {};
  const out: ClientBranding = {};
  const logo = webUrl(client.logo_uri);
  const policy = webUrl(client.policy_uri);
  const tos = webUrl(client.tos_uri);
  if (logo) out.logoUri = logo;
  if (policy) out.policyUri = policy;
  if (tos) out.tosUri = tos;
  return out;
}

/** Registration check for logo_uri / policy_uri / tos_uri: an absolute URL, https in production. */
export function clientUriProblem(name: string, value: unknown, opts: { production: boolean }): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 2000) return `${name} must be a URL`;
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return `${name} must be an http(s) URL`;
  if (opts.production && url.protocol !== 'https:') return `${name} must be https in production`;
  if (url.username || url.password) return `${name} must not contain credentials`;
  return null;
}

/** Client registration (src/admin/service.ts createClient): validated logo_uri / policy_uri / tos_uri metadata. */
export function brandingMetadata(input: { logoUri?: string | undefined; policyUri?: string | undefined; tosUri?: string | undefined }, production: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of [['logo_uri', input.logoUri], ['policy_uri', input.policyUri], ['tos_uri', input.tosUri]] as const) {
    if (value === undefined) continue;
    const problem = clientUriProblem(name, value, { production });
    if (problem) throw new AppError('invalid_form', problem, name);
    out[name] = value;
  }
  return out;
}
