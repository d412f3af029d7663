/**
 * Console pages for clients: the list with each client's policy, one client, and editing its assurance
 * policy. The form only turns strings into a policy object; setClientPolicy validates it (schema, unknown
 * acr, lock-out refusal), applies it conditionally on the ETag the page was rendered with (409 when someone
 * else changed the client meanwhile) and holds a lowered minimum for a second admin when four eyes is on.
 */
import type Router from '@koa/router';
import { z } from 'zod';
import type { Container } from '../../container.js';
import { parseBody } from '../../http/validate.js';
import type { ClientPolicy } from '../../policy/client-policy.js';
import { getClient, listClients, setClientPolicy, type ClientView } from '../clients.js';
import { INTERNAL_CLIENT_IDS } from './session.js';
import { orShown, shownOnPage, when, type ConsolePages, type ConsoleRequest } from './page.js';
import type { Page } from '../types.js';
import { requestI18n } from '../../i18n/context.js';
import type { Translate } from '../../i18n/index.js';

export const POLICY_FACTORS = ['totp', 'webauthn', 'backup_code', 'sms', 'push'] as const;

/** The policy form as strings, whether read from a stored policy or from what was just submitted. */
export interface PolicyFormValues {
  min_acr: string;
  allowed_factors: string[];
  max_age_seconds: string;
  allow_lower_acr: boolean;
  enroll_on_unmet: boolean;
  remembered_devices: 'default' | 'allow' | 'deny';
  sensitive_scopes: string;
}

const listQuery = z.object({ q: z.string().trim().max(200).optional(), cursor: z.string().max(500).optional() });
const clientId = z.string().min(1).max(200).regex(/^[\w.:~-]+$/, 'not a valid client id');
const oneOrMany = z.union([z.string().max(50), z.array(z.string().max(50)).max(POLICY_FACTORS.length)]).transform((v) => (Array.isArray(v) ? v : [v]));
const policyForm = z
  .object({
    csrf: z.string(),
    etag: z.string().max(100),
    min_acr: z.string().max(100).default(''),
    allowed_factors: oneOrMany.optional(),
    max_age_seconds: z.string().trim().regex(/^\d{0,9}$/, 'enter a whole number of seconds, or leave it empty').default(''),
    allow_lower_acr: z.literal('on').optional(),
    enroll_on_unmet: z.literal('on').optional(),
    remembered_devices: z.enum(['default', 'allow', 'deny']).default('default'),
    sensitive_scopes: z.string().max(2000).default(''),
  })
  .strict();

export function formValuesOf(policy: ClientPolicy): PolicyFormValues {
  return {
    min_acr: policy.min_acr ?? '',
    allowed_factors: policy.allowed_factors ?? [],
    max_age_seconds: policy.max_age_seconds === undefined ? '' : String(policy.max_age_seconds),
    allow_lower_acr: Boolean(policy.allow_lower_acr),
    enroll_on_unmet: Boolean(policy.enroll_on_unmet),
    remembered_devices: policy.remembered_devices === undefined ? 'default' : policy.remembered_devices ? 'allow' : 'deny',
    sensitive_scopes: (policy.sensitive_scopes ?? []).join(', '),
  };
}

/**
 * The submitted form as a policy. Settings the form does not show (acr_levels, pkce_optional) are kept from
 * the stored policy; empty fields remove their setting.
 */
export function policyFromForm(current: ClientPolicy, form: PolicyFormValues): Record<string, unknown> {
  const scopes = form.sensitive_scopes.split(/[\s,]+/).filter(Boolean);
  return {
    ...(current.acr_levels ? { acr_levels: current.acr_levels } : {}),
    ...(current.pkce_optional !== undefined ? { pkce_optional: current.pkce_optional } : {}),
    ...(form.min_acr ? { min_acr: form.min_acr } : {}),
    ...(form.allowed_factors.length ? { allowed_factors: form.allowed_factors } : {}),
    ...(form.max_age_seconds ? { max_age_seconds: Number(form.max_age_seconds) } : {}),
    ...(form.allow_lower_acr ? { allow_lower_acr: true } : {}),
    ...(form.enroll_on_unmet ? { enroll_on_unmet: true } : {}),
    ...(form.remembered_devices !== 'default' ? { remembered_devices: form.remembered_devices === 'allow' } : {}),
    ...(scopes.length ? { sensitive_scopes: scopes } : {}),
  };
}

/** One line for the list: the policy as settings, in the page's language (`admin.summary.*`). */
export function policySummary(p: ClientPolicy, t: Translate): string {
  const parts = [
    p.min_acr ? t('admin.summary.minimum', { acr: p.min_acr }) : null,
    p.allowed_factors ? t('admin.summary.factors', { factors: p.allowed_factors.join(', ') }) : null,
    p.max_age_seconds !== undefined ? t('admin.summary.maxAge', { seconds: p.max_age_seconds }) : null,
    p.allow_lower_acr ? t('admin.summary.lowerAcr') : null,
    p.enroll_on_unmet ? t('admin.summary.enrollOnUnmet') : null,
    p.remembered_devices === false ? t('admin.summary.noRemembered') : null,
    p.sensitive_scopes?.length ? t('admin.summary.sensitive', { scopes: p.sensitive_scopes.join(', ') }) : null,
  ].filter(Boolean);
  return parts.length ? parts.join(' · ') : t('admin.summary.defaults');
}

export function clientPages(router: Router, c: Container, pages: ConsolePages) {
  router.get(
    '/clients',
    pages.page(async (req) => {
      const { value, error } = await orShown({ q: undefined as string | undefined, result: { items: [], next_cursor: null } as Page<ClientView> }, async () => {
        const query = parseBody(listQuery, req.ctx.query);
        const q = query.q || undefined;
        return { q, result: await listClients(c, { q, cursor: query.cursor, limit: 50 }) };
      });
      const { q, result } = value;
      const { t } = await requestI18n();
      const clients = result.items.map((cl) => ({ ...cl, summary: policySummary(cl.policy, t), internal: INTERNAL_CLIENT_IDS.has(cl.client_id) }));
      const nextHref = result.next_cursor ? `/admin/clients?${new URLSearchParams({ ...(q ? { q } : {}), cursor: result.next_cursor })}` : null;
      await pages.render(req, 'clients', 'admin/clients', 'Clients', { q: q ?? '', clients, nextHref, error }, error ? 400 : 200);
    }),
  );

  async function showClient(req: ConsoleRequest, client: ClientView, opts: { form?: PolicyFormValues; error?: string; field?: string; status?: number } = {}) {
    await pages.render(
      req,
      'clients',
      'admin/client',
      client.client_name,
      {
        client,
        created: when(client.created_at),
        internal: INTERNAL_CLIENT_IDS.has(client.client_id),
        form: opts.form ?? formValuesOf(client.policy),
        acrs: c.levels.map((l) => ({ acr: l.acr, level: l.level })),
        factorKinds: POLICY_FACTORS,
        error: opts.error ?? null,
        field: opts.field ?? null,
      },
      opts.status ?? 200,
    );
  }

  const param = (req: ConsoleRequest) => parseBody(clientId, req.ctx.params.id) as string;

  router.get('/clients/:id', pages.page(async (req) => showClient(req, await getClient(c, param(req)))));

  router.post(
    '/clients/:id/policy',
    pages.page(async (req) => {
      const id = param(req);
      const client = await getClient(c, id);
      const raw = (req.ctx.request.body ?? {}) as Record<string, unknown>;
      let submitted: PolicyFormValues | undefined;
      try {
        const body = pages.form(req, policyForm);
        submitted = {
          min_acr: body.min_acr,
          allowed_factors: body.allowed_factors ?? [],
          max_age_seconds: body.max_age_seconds,
          allow_lower_acr: body.allow_lower_acr === 'on',
          enroll_on_unmet: body.enroll_on_unmet === 'on',
          remembered_devices: body.remembered_devices,
          sensitive_scopes: body.sensitive_scopes,
        };
        const result = await setClientPolicy(c, req.actor, id, policyFromForm(client.policy, submitted), { ifMatch: body.etag });
        const notice = result.status === 'pending' ? 'Lowering the minimum needs a second admin: the change waits in Approvals' : 'Policy saved';
        req.ctx.redirect(`/admin/clients/${encodeURIComponent(id)}?notice=${encodeURIComponent(notice)}`);
      } catch (err) {
        if (!shownOnPage(err)) throw err;
        // Show what was submitted (as far as it parsed), so the admin can correct it.
        const form = submitted ?? { ...formValuesOf(client.policy), ...echo(raw) };
        await showClient(req, await getClient(c, id), { form, error: err.publicMessage, field: err.field, status: err.status });
      }
    }),
  );
}

/** The submitted strings, for redisplay after a parse failure (never trusted for anything else). */
function echo(raw: Record<string, unknown>): Partial<PolicyFormValues> {
  const s = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : undefined);
  const out: Partial<PolicyFormValues> = {};
  if (s(raw.min_acr) !== undefined) out.min_acr = s(raw.min_acr)!;
  if (s(raw.max_age_seconds) !== undefined) out.max_age_seconds = s(raw.max_age_seconds)!;
  if (s(raw.sensitive_scopes) !== undefined) out.sensitive_scopes = s(raw.sensitive_scopes)!;
  const f = raw.allowed_factors;
  out.allowed_factors = (Array.isArray(f) ? f : f === undefined ? [] : [f]).filter((x): x is string => typeof x === 'string').slice(0, 10);
  out.allow_lower_acr = raw.allow_lower_acr === 'on';
  out.enroll_on_unmet = raw.enroll_on_unmet === 'on';
  return out;
}
