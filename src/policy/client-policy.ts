/**
 * Per-client assurance policy, set by security teams (CLI now, admin API later) and stored in the client's
 * metadata under `stepwise_policy`.
 */
import { z } from 'zod';

export const clientPolicySchema = z
  .object({
    /** Minimum acr for every sign-in to this client. */
    min_acr: z.string().min(1).max(100).optional(),
    /** Second factors this client accepts (password is always the first step). */
    allowed_factors: z.array(z.enum(['totp', 'webauthn', 'backup_code', 'sms', 'push'])).min(1).optional(),
    /** Caps how long any reached level stays valid for this client. */
    max_age_seconds: z.number().int().min(0).max(30 * 24 * 3600).optional(),
    /** Client-specific acr names (or re-mapped defaults) → level. */
    acr_levels: z.record(z.string().min(1).max(100), z.number().int().min(1).max(10)).optional(),
    /** Let a voluntary request the user cannot meet get the lower acr reached, instead of an error. */
    allow_lower_acr: z.boolean().optional(),
    /**
     * When a password-only user cannot reach the level, offer to enroll a factor inside the sign-in and then
     * continue, instead of answering unmet_authentication_requirements.
     */
    enroll_on_unmet: z.boolean().optional(),
    /** Whether remembered devices may skip risk-driven prompts (never a level requirement). */
    remembered_devices: z.boolean().optional(),
    /**
     * PKCE may be left out by this (confidential) client — the OpenID conformance Basic plan sends none.
     * Public clients always need it; the default is required for everyone.
     */
    pkce_optional: z.boolean().optional(),
    /** Scopes whose request is a sensitive action (the risk policy's sensitive_action signal). */
    sensitive_scopes: z.array(z.string().min(1).max(100)).max(50).optional(),
  })
  .strict();

export type ClientPolicy = z.infer<typeof clientPolicySchema>;

export function readClientPolicy(client: { [key: string]: unknown } | undefined): ClientPolicy {
  const parsed = clientPolicySchema.safeParse(client?.stepwise_policy ?? {});
  return parsed.success ? parsed.data : {};
}

/** The request asks for a scope this client lists as sensitive. */
export function isSensitiveRequest(policy: ClientPolicy, scope: unknown): boolean {
  if (!policy.sensitive_scopes?.length || typeof scope !== 'string') return false;
  const asked = new Set(scope.split(' '));
  return policy.sensitive_scopes.some((s) => asked.has(s));
}
