/**
 * Shared logic around every factor: failure throttling (per account and factor kind, so a locked TOTP does
 * not lock passkeys), audit events for every outcome, and the user's enrolled-factor summary.
 */
import type { FactorContext, FactorInput, VerifiedMethod } from './types.js';
import { FACTOR_KINDS, factorOf, type FactorRegistry, type SecondFactorKind } from './registry.js';
import type { FactorsRepo, FactorRecord } from '../store/repos/factors.js';
import { throttled, type Throttle } from '../security/rate-limit.js';
import type { AuditLog } from '../audit/log.js';
import { AppError } from '../errors/index.js';

/** Errors that mean "the user's response was wrong" and count toward throttling. */
const COUNTED = new Set(['invalid_code', 'code_reused', 'webauthn_failed', 'challenge_expired']);
const counted = (err: unknown) => err instanceof AppError && COUNTED.has(err.code);

export interface AuditMeta {
  ip?: string;
  clientId?: string;
}

export interface EnrolledSummary {
  kinds: SecondFactorKind[];
  factors: FactorRecord[];
}

/** How few unused backup codes count as "running low" (a notice, and the sign-in page says how many are left). */
export const BACKUP_CODES_LOW = 2;

export type FactorNotify = (userId: string, event: 'factor_added' | 'backup_codes_regenerated' | 'backup_codes_low', ctx: { ip?: string; details?: Record<string, unknown> }) => void;

export class FactorService {
  constructor(
    readonly registry: FactorRegistry,
    private readonly factors: FactorsRepo,
    private readonly throttle: Throttle,
    private readonly audit: AuditLog,
    /** Security notices (c.notices.send; fire-and-forget): factor added, backup codes regenerated or running low. */
    private readonly notify: FactorNotify = () => undefined,
  ) {}

  /** Active second factors of a user, and the kinds usable at sign-in (backup codes only while codes remain). */
  async enrolled(userId: string): Promise<EnrolledSummary> {
    const factors = (await this.factors.listByUser(userId)).filter((f) => f.status === 'active');
    const kinds = new Set<SecondFactorKind>();
    for (const f of factors) {
      if (f.kind === 'backup_code') {
        if ((await this.registry.backup_code.remaining(userId)) > 0) kinds.add('backup_code');
      } else if (f.kind !== 'password') kinds.add(f.kind);
    }
    return { kinds: FACTOR_KINDS.filter((k) => kinds.has(k)), factors };
  }

  async verify(kind: string, ctx: FactorContext, input: FactorInput, meta: AuditMeta): Promise<VerifiedMethod> {
    const factor = factorOf(this.registry, kind);
    const key = `${ctx.userId}:${factor.info.kind}`;
    const record = (outcome: 'success' | 'failure', details: Record<string, unknown>) =>
      this.audit.record({ type: `factor.verify.${factor.info.kind}`, outcome, userId: ctx.userId, clientId: meta.clientId, ip: meta.ip, details });
    // Counted before the check (atomic consume), cleared on success: parallel guesses get at most the limit.
    let method: VerifiedMethod;
    try {
      method = await throttled([{ throttle: this.throttle, key, onSuccess: 'reset' }], () => factor.verify(ctx, input), counted);
    } catch (err) {
      if (counted(err)) await record('failure', { reason: (err as AppError).code });
      throw err;
    }
    await record('success', { factorId: method.factorId, amr: method.amr });
    if (factor.info.kind === 'backup_code') {
      const remaining = await this.registry.backup_code.remaining(ctx.userId);
      if (remaining <= BACKUP_CODES_LOW) this.notify(ctx.userId, 'backup_codes_low', { ip: meta.ip, details: { remaining } });
    }
    return method;
  }

  async startEnrollment(kind: string, ctx: FactorContext, input: FactorInput, meta: AuditMeta) {
    const factor = factorOf(this.registry, kind);
    const view = await this.audited(`factor.enroll.${factor.info.kind}.start`, ctx, meta, () => factor.startEnrollment(ctx, input));
    // Backup codes are active as soon as they are generated (no finish step).
    if (factor.info.kind === 'backup_code') this.notify(ctx.userId, 'backup_codes_regenerated', { ip: meta.ip });
    return view;
  }

  async finishEnrollment(kind: string, ctx: FactorContext, input: FactorInput, meta: AuditMeta) {
    const factor = factorOf(this.registry, kind);
    const result = await this.audited(`factor.enroll.${factor.info.kind}`, ctx, meta, () => factor.finishEnrollment(ctx, input));
    this.notify(ctx.userId, 'factor_added', { ip: meta.ip, details: { method: factor.info.label } });
    return result;
  }

  private async audited<T>(type: string, ctx: FactorContext, meta: AuditMeta, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      const factorId = (result as { factorId?: string } | undefined)?.factorId;
      await this.audit.record({ type, outcome: 'success', userId: ctx.userId, ip: meta.ip, details: factorId ? { factorId } : {} });
      return result;
    } catch (err) {
      if (err instanceof AppError && err.status < 500) {
        await this.audit.record({ type, outcome: 'failure', userId: ctx.userId, ip: meta.ip, details: { reason: err.code } });
      }
      throw err;
    }
  }
}
