/**
 * TOTP (authenticator app): a possession factor, not phishing-resistant.
 * Enrollment is two-step: the secret is created `pending` and served once (with its QR code); it becomes
 * `active` only when a code from it is confirmed. Every accepted code advances the factor's last used time
 * step atomically, so a code is accepted at most once, even under concurrent requests (RFC 6238 §5.2).
 */
import { z } from 'zod';
import type QRCode from 'qrcode';
import { lazy } from '../../lazy.js';
import { verifiedMethod, type Factor, type FactorContext, type FactorInfo, type FactorInput, type VerifiedMethod, type ViewModel } from '../types.js';
import type { FactorsRepo, FactorRecord } from '../../store/repos/factors.js';
import type { SecretBox } from '../../security/crypto.js';
import { newId } from '../../security/crypto.js';
import { AppError } from '../../errors/index.js';
import { checkTotp, newTotpSecret, normaliseCode, totpUri } from './otp.js';

/** Loaded on first enrollment only (start-up time, idle memory). */
const qrcode = lazy<typeof QRCode>('qrcode');

export const totpInfo: FactorInfo = {
  kind: 'totp',
  label: 'Authenticator app',
  category: 'possession',
  phishingResistant: false,
  canBePrimary: false,
};

export const TOTP_DEFAULT_NAME = 'Authenticator app';
export const TOTP_NAME_MAX = 60;

/** SecretBox context for a factor's seed: a ciphertext copied to another row fails to decrypt. */
export const totpSecretContext = (factorId: string): string => `totp:${factorId}`;

export interface TotpFactorDeps {
  factors: FactorsRepo;
  box: SecretBox;
  /** Shown in authenticator apps, e.g. "Stepwise". */
  issuer: string;
}

const codeField = z.preprocess(
  (v) => normaliseCode(v),
  z.string().regex(/^[0-9]{6}$/, 'Enter the 6-digit code from your authenticator app.'),
);

const enrollStartSchema = z.object({
  name: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim() : v),
    z.string().max(TOTP_NAME_MAX, `Use at most ${TOTP_NAME_MAX} characters.`).optional(),
  ),
});

const enrollFinishSchema = z.object({
  factorId: z.string().min(1, 'The setup request is missing.').max(64, 'The setup request is invalid.'),
  code: codeField,
});

const verifySchema = z.object({ code: codeField });

function parse<S extends z.ZodType>(schema: S, input: FactorInput, field: string): z.infer<S> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) throw new AppError('invalid_form', r.error.issues[0]?.message, field);
  return r.data;
}

export class TotpFactor implements Factor {
  readonly info = totpInfo;

  constructor(private readonly deps: TotpFactorDeps) {}

  async startChallenge(_ctx: FactorContext): Promise<ViewModel> {
    return {};
  }

  /** Creates a pending factor and returns `{ factorId, secret, otpauthUri, qrDataUrl }` (the only time the secret is served). */
  async startEnrollment(ctx: FactorContext, input: FactorInput): Promise<ViewModel> {
    const { name } = parse(enrollStartSchema, input, 'name');
    const pending = await this.deps.factors.listByUser(ctx.userId, { kind: 'totp', status: 'pending' });
    if (pending.length > 0) throw new AppError('factor_pending');

    const factorId = newId();
    const secret = newTotpSecret();
    try {
      await this.deps.factors.insert({
        id: factorId,
        userId: ctx.userId,
        kind: 'totp',
        name: name || TOTP_DEFAULT_NAME,
        status: 'pending',
        secretEnc: this.deps.box.encrypt(secret, totpSecretContext(factorId)),
      });
    } catch (err) {
      // A concurrent start won the one-pending-per-kind index.
      if (err instanceof AppError && err.code === 'conflict') throw new AppError('factor_pending');
      throw err;
    }
    const otpauthUri = totpUri({ issuer: this.deps.issuer, account: ctx.userEmail, secret });
    const qrDataUrl = await qrcode().toDataURL(otpauthUri, { errorCorrectionLevel: 'M', margin: 1, width: 240 });
    return { factorId, secret, otpauthUri, qrDataUrl };
  }

  /** Confirms the pending factor with a first code; that code's step is recorded so it cannot be replayed at sign-in. */
  async finishEnrollment(ctx: FactorContext, input: FactorInput): Promise<{ factorId: string; view: ViewModel }> {
    const { factorId, code } = parse(enrollFinishSchema, input, 'code');
    const factor = await this.deps.factors.findById(factorId);
    if (!factor || factor.userId !== ctx.userId || factor.kind !== 'totp' || factor.status !== 'pending' || !factor.secretEnc) {
      throw new AppError('not_found');
    }
    const result = checkTotp({ secret: this.secretOf(factor), code, now: ctx.now, lastUsedStep: null });
    if (!result.ok) throw new AppError('invalid_code', undefined, 'code');
    // False when it was confirmed by a concurrent request or removed meanwhile.
    if (!(await this.deps.factors.activate(factor.id, { lastUsedStep: result.step }))) throw new AppError('not_found');
    return { factorId: factor.id, view: {} };
  }

  async verify(ctx: FactorContext, input: FactorInput): Promise<VerifiedMethod> {
    const { code } = parse(verifySchema, input, 'code');
    const active = await this.deps.factors.listByUser(ctx.userId, { kind: 'totp', status: 'active' });
    let reused = false;
    for (const factor of active) {
      if (!factor.secretEnc) continue;
      const result = checkTotp({ secret: this.secretOf(factor), code, now: ctx.now, lastUsedStep: factor.lastUsedStep });
      if (result.ok) {
        // Atomic compare-and-set on last_used_step: exactly one of several concurrent uses of a code wins.
        if (!(await this.deps.factors.advanceTotpStep(factor.id, result.step))) throw new AppError('code_reused', undefined, 'code');
        return verifiedMethod(totpInfo, { factorId: factor.id, amr: ['otp'], nowMs: ctx.now });
      }
      if (result.reason === 'reused') reused = true;
    }
    throw new AppError(reused ? 'code_reused' : 'invalid_code', undefined, 'code');
  }

  private secretOf(factor: FactorRecord): string {
    return this.deps.box.decryptString(factor.secretEnc!, totpSecretContext(factor.id));
  }
}
