/** The only place that lists the second factors. Adding a factor = one module + one line here. */
import type { Factor, FactorKind } from './types.js';
import { AppError } from '../errors/index.js';
import { TotpFactor } from './totp/index.js';
import { WebAuthnFactor } from './webauthn/index.js';
import { BackupCodesFactor } from './backup-codes/index.js';
import { SmsFactor, type SmsThrottles } from './sms/index.js';
import { PushFactor, type PushRuntime } from './push/index.js';
import type { SmsSender } from '../notify/sms.js';
import type { AuditLog } from '../audit/log.js';
import type { FactorsRepo } from '../store/repos/factors.js';
import { BackupCodesRepo } from '../store/repos/backup-codes.js';
import type { KvStore } from '../store/kv.js';
import type { SecretBox } from '../security/crypto.js';
import { PasswordHasher } from '../security/password.js';
import type { Config } from '../config/index.js';
import type { Db } from '../store/db.js';

export type SecondFactorKind = Exclude<FactorKind, 'password'>;

export interface FactorRegistry {
  totp: TotpFactor;
  webauthn: WebAuthnFactor;
  backup_code: BackupCodesFactor;
  sms: SmsFactor;
  push: PushFactor;
}

export const FACTOR_KINDS: SecondFactorKind[] = ['webauthn', 'totp', 'push', 'backup_code', 'sms'];

export function buildRegistry(deps: { config: Config; db: Db; factors: FactorsRepo; kv: KvStore; box: SecretBox; sms: { sender: SmsSender; available: boolean; throttles: SmsThrottles; audit?: AuditLog }; push: PushRuntime }): FactorRegistry {
  return {
    totp: new TotpFactor({ factors: deps.factors, box: deps.box, issuer: deps.config.webauthn.rpName }),
    webauthn: new WebAuthnFactor({
      factors: deps.factors,
      kv: deps.kv,
      rpID: deps.config.webauthn.rpID,
      rpName: deps.config.webauthn.rpName,
      origin: deps.config.webauthn.origin,
    }),
    backup_code: new BackupCodesFactor({
      factors: deps.factors,
      codes: new BackupCodesRepo(deps.db),
      box: deps.box,
      // Backup codes carry 80 random bits; a light argon2id work factor is enough (NIST 800-63B-4 §3.1.2.2).
      hasher: new PasswordHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 }),
    }),
    // Offered last (FACTOR_KINDS): the weakest possession factor (SIM swap, real-time phishing).
    sms: new SmsFactor({ factors: deps.factors, kv: deps.kv, box: deps.box, appName: deps.config.webauthn.rpName, ...deps.sms }),
    push: new PushFactor({
      factors: deps.factors,
      kv: deps.kv,
      settings: { issuer: deps.config.issuer, maxPerHour: deps.config.push.maxPerHour, denyCooldownSeconds: deps.config.push.denyCooldownSeconds },
      ...deps.push,
    }),
  };
}

export function factorOf(registry: FactorRegistry, kind: string): Factor & { info: { kind: SecondFactorKind } } {
  if (!(FACTOR_KINDS as string[]).includes(kind)) throw new AppError('not_found', 'Unknown sign-in method.');
  return registry[kind as SecondFactorKind] as Factor & { info: { kind: SecondFactorKind } };
}
