/**
 * WebAuthn (passkeys and security keys): the phishing-resistant possession factor, usable as a second
 * factor (user known, allowCredentials = their credentials) and for passwordless sign-in (discoverable
 * credential, user found through the credential and its user handle, user verification required).
 *
 * Relying-party checks (security checklist B7):
 * - challenges are 32 CSPRNG bytes, kept server-side in the KvStore with a TTL equal to the ceremony
 *   `timeout`, bound to the scope (interaction uid / session id) and user, and consumed with `take`
 *   (atomic get+delete) BEFORE anything else is checked: every challenge is single-use, even on failure;
 * - clientDataJSON type, challenge, exact origin, RP ID hash, UP, UV (when required), alg and signature are
 *   verified by @simplewebauthn/server; cross-origin (iframe) responses are refused here;
 * - the credential must be owned by the user being authenticated, and a present userHandle must be theirs;
 * - the signature counter must increase (unless both are zero, as with synced passkeys), and the new value
 *   is persisted with a conditional update, so a failed or racing verification never changes it.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  VerifiedAuthenticationResponse,
  VerifiedRegistrationResponse,
  WebAuthnCredential,
} from '@simplewebauthn/server';
import { lazy } from '../../lazy.js';
import { AppError } from '../../errors/index.js';
import type { FactorRecord, FactorsRepo } from '../../store/repos/factors.js';
import type { KvStore } from '../../store/kv.js';
import { verifiedMethod, type Factor, type FactorContext, type FactorInfo, type FactorInput, type VerifiedMethod, type ViewModel } from '../types.js';
import {
  StoredChallenge,
  authenticationResponseSchema,
  startEnrollmentInput,
  finishEnrollmentInput,
  verifyInput,
  parse,
  failure,
  counterFailure,
  userHandleBytes,
  userHandleMatches,
  assertNotCrossOrigin,
  metaTransports,
  webauthnAmr,
} from './checks.js';

/** SimpleWebAuthn loads on the first passkey ceremony (it is the largest module we use: start-up time, idle memory). */
const simpleWebAuthn = lazy<typeof import('@simplewebauthn/server')>('@simplewebauthn/server');

export { webauthnAmr } from './checks.js';

export const webauthnInfo: FactorInfo = {
  kind: 'webauthn',
  label: 'Passkey or security key',
  category: 'possession',
  phishingResistant: true,
  canBePrimary: true,
};

export interface WebAuthnFactorOptions {
  factors: FactorsRepo;
  kv: KvStore;
  rpID: string;
  rpName: string;
  /** The exact expected origin, e.g. http://localhost:3000 (no trailing slash). */
  origin: string;
  /** Challenge lifetime; also the `timeout` given to the browser. Default 300. */
  challengeTtlSeconds?: number;
}

/** What the account page shows per credential. */
export interface WebAuthnCredentialSummary {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  deviceType: 'singleDevice' | 'multiDevice' | null;
  backedUp: boolean;
  transports: string[];
}

/** Stored per challenge in the KvStore (JSON). */
export class WebAuthnFactor implements Factor {
  readonly info = webauthnInfo;
  private readonly factors: FactorsRepo;
  private readonly kv: KvStore;
  private readonly rpID: string;
  private readonly rpName: string;
  private readonly origin: string;
  private readonly ttl: number;

  constructor(opts: WebAuthnFactorOptions) {
    this.factors = opts.factors;
    this.kv = opts.kv;
    this.rpID = opts.rpID;
    this.rpName = opts.rpName;
    this.origin = opts.origin;
    this.ttl = opts.challengeTtlSeconds ?? 300;
  }

  private regKey(scope: string, userId: string) {
    return `webauthn:reg:${scope}:${userId}`;
  }
  private authKey(scope: string) {
    return `webauthn:auth:${scope}`;
  }
  private pwlessKey(scope: string) {
    return `webauthn:pwless:${scope}`;
  }

  private async activeCredentials(userId: string): Promise<FactorRecord[]> {
    return (await this.factors.listByUser(userId, { kind: 'webauthn', status: 'active' })).filter((f) => f.credentialId && f.publicKey);
  }

  /** Atomically consumes a stored challenge; missing or expired → challenge_expired. */
  private async takeChallenge(key: string): Promise<StoredChallenge> {
    const raw = await this.kv.take(key);
    if (!raw) throw new AppError('challenge_expired');
    try {
      const parsed = JSON.parse(raw) as StoredChallenge;
      if (typeof parsed.challenge !== 'string' || !parsed.challenge) throw new Error('bad challenge record');
      return parsed;
    } catch (err) {
      throw new AppError('challenge_expired', undefined, undefined, { cause: err });
    }
  }

  // ---------------------------------------------------------------- enrollment

  async startEnrollment(ctx: FactorContext, input: FactorInput): Promise<ViewModel> {
    const { name } = parse(startEnrollmentInput, input);
    const existing = await this.factors.listByUser(ctx.userId, { kind: 'webauthn' });
    const optionsJSON: PublicKeyCredentialCreationOptionsJSON = await simpleWebAuthn().generateRegistrationOptions({
      rpName: this.rpName,
      rpID: this.rpID,
      userID: userHandleBytes(ctx.userId),
      userName: ctx.userEmail,
      userDisplayName: ctx.userName ?? ctx.userEmail,
      challenge: new Uint8Array(randomBytes(32)),
      timeout: this.ttl * 1000,
      attestationType: 'none',
      excludeCredentials: existing
        .filter((f) => f.credentialId)
        .map((f) => ({ id: f.credentialId!, transports: metaTransports(f) })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    const record: StoredChallenge = { challenge: optionsJSON.challenge, userId: ctx.userId };
    await this.kv.set(this.regKey(ctx.scope, ctx.userId), JSON.stringify(record), this.ttl);
    return { optionsJSON, name: name ?? 'Passkey' };
  }

  async finishEnrollment(ctx: FactorContext, input: FactorInput): Promise<{ factorId: string; view: ViewModel }> {
    const { response, name } = parse(finishEnrollmentInput, input);
    const stored = await this.takeChallenge(this.regKey(ctx.scope, ctx.userId));
    if (stored.userId !== ctx.userId) throw new AppError('challenge_expired');
    assertNotCrossOrigin(response.response.clientDataJSON);

    let result: VerifiedRegistrationResponse;
    try {
      result = await simpleWebAuthn().verifyRegistrationResponse({
        response: response as unknown as RegistrationResponseJSON,
        expectedChallenge: stored.challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        expectedType: 'webauthn.create',
        requireUserPresence: true,
        requireUserVerification: false,
      });
    } catch (err) {
      throw failure(err);
    }
    if (!result.verified || !result.registrationInfo) throw new AppError('webauthn_failed');
    const info = result.registrationInfo;
    if (info.credential.id !== response.id) throw new AppError('webauthn_failed');

    // Reject a credential id registered to anyone (also enforced by the UNIQUE column for races).
    if (await this.factors.findByCredentialId(info.credential.id)) {
      throw new AppError('conflict', 'That passkey or security key is already registered.');
    }
    const row = await this.factors.insert({
      userId: ctx.userId,
      kind: 'webauthn',
      name,
      status: 'active',
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      meta: {
        transports: info.credential.transports ?? [],
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        aaguid: info.aaguid,
        fmt: info.fmt,
        userVerified: info.userVerified,
      },
    });
    return { factorId: row.id, view: {} };
  }

  // ---------------------------------------------------------------- second factor / step-up

  async startChallenge(ctx: FactorContext): Promise<ViewModel> {
    const creds = await this.activeCredentials(ctx.userId);
    const optionsJSON: PublicKeyCredentialRequestOptionsJSON = await simpleWebAuthn().generateAuthenticationOptions({
      rpID: this.rpID,
      challenge: new Uint8Array(randomBytes(32)),
      timeout: this.ttl * 1000,
      userVerification: 'preferred',
      allowCredentials: creds.map((f) => ({ id: f.credentialId!, transports: metaTransports(f) })),
    });
    const record: StoredChallenge = {
      challenge: optionsJSON.challenge,
      userId: ctx.userId,
      allow: creds.map((f) => f.credentialId!),
    };
    await this.kv.set(this.authKey(ctx.scope), JSON.stringify(record), this.ttl);
    return { optionsJSON };
  }

  async verify(ctx: FactorContext, input: FactorInput): Promise<VerifiedMethod> {
    const { response } = parse(verifyInput, input);
    // Consume first: whatever happens next, this challenge cannot be used again.
    const stored = await this.takeChallenge(this.authKey(ctx.scope));
    if (stored.userId !== ctx.userId) throw new AppError('challenge_expired');

    const cred = await this.factors.findByCredentialId(response.id);
    // Same error whether the credential is unknown, someone else's, or not offered: reveal nothing.
    if (!cred || cred.userId !== ctx.userId || cred.status !== 'active') throw new AppError('webauthn_failed');
    if (stored.allow && !stored.allow.includes(response.id)) throw new AppError('webauthn_failed');
    const handle = response.response.userHandle;
    if (handle && !userHandleMatches(handle, ctx.userId)) throw new AppError('webauthn_failed');

    return this.verifyAssertion(cred, response, stored.challenge, false, ctx.now);
  }

  // ---------------------------------------------------------------- passwordless (discoverable credentials)

  /** Options for a passkey sign-in where the user is not known yet: no allowCredentials, UV required. */
  async startPasswordless(scope: string): Promise<{ optionsJSON: PublicKeyCredentialRequestOptionsJSON }> {
    const optionsJSON = await simpleWebAuthn().generateAuthenticationOptions({
      rpID: this.rpID,
      challenge: new Uint8Array(randomBytes(32)),
      timeout: this.ttl * 1000,
      userVerification: 'required',
    });
    const record: StoredChallenge = { challenge: optionsJSON.challenge };
    await this.kv.set(this.pwlessKey(scope), JSON.stringify(record), this.ttl);
    return { optionsJSON };
  }

  /**
   * Verifies a discoverable-credential assertion and returns the credential's owner. The caller must still
   * check that the account is enabled. The userHandle must be present and equal the owner's user handle.
   */
  async verifyPasswordless(scope: string, input: FactorInput, now: number): Promise<{ userId: string; method: VerifiedMethod }> {
    const { response } = parse(verifyInput, input);
    const stored = await this.takeChallenge(this.pwlessKey(scope));
    const cred = await this.factors.findByCredentialId(response.id);
    if (!cred || cred.status !== 'active') throw new AppError('webauthn_failed');
    const handle = response.response.userHandle;
    if (!handle || !userHandleMatches(handle, cred.userId)) throw new AppError('webauthn_failed');
    const method = await this.verifyAssertion(cred, response, stored.challenge, true, now);
    return { userId: cred.userId, method };
  }

  // ---------------------------------------------------------------- shared

  private async verifyAssertion(
    cred: FactorRecord,
    response: z.infer<typeof authenticationResponseSchema>,
    challenge: string,
    requireUserVerification: boolean,
    now: number,
  ): Promise<VerifiedMethod> {
    assertNotCrossOrigin(response.response.clientDataJSON);
    const oldCounter = cred.counter ?? 0;
    const transports = metaTransports(cred);
    const credential: WebAuthnCredential = {
      id: cred.credentialId!,
      publicKey: new Uint8Array(Buffer.from(cred.publicKey!, 'base64url')),
      counter: oldCounter,
      transports,
    };
    let result: VerifiedAuthenticationResponse;
    try {
      result = await simpleWebAuthn().verifyAuthenticationResponse({
        response: response as unknown as AuthenticationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        expectedType: 'webauthn.get',
        credential,
        requireUserVerification,
      });
    } catch (err) {
      throw failure(err);
    }
    if (!result.verified) throw new AppError('webauthn_failed');
    const info = result.authenticationInfo;
    if (requireUserVerification && !info.userVerified) throw failure(new Error('user verification required'));

    // Counter regression (clone signal): must increase unless both are zero (synced passkeys report 0).
    const newCounter = info.newCounter;
    if ((newCounter > 0 || oldCounter > 0) && newCounter <= oldCounter) throw counterFailure();
    // Conditional on the value we read: a concurrent verification (another challenge, same credential) that
    // already moved it makes this one fail, so the counter is never lowered or double-spent.
    if (!(await this.factors.updateCounter(cred.id, oldCounter, newCounter))) throw new AppError('webauthn_failed');

    if (cred.meta.backedUp !== info.credentialBackedUp || cred.meta.deviceType !== info.credentialDeviceType) {
      await this.factors.updateMeta(cred.id, { ...cred.meta, backedUp: info.credentialBackedUp, deviceType: info.credentialDeviceType });
    }

    const deviceType = info.credentialDeviceType === 'multiDevice' || cred.meta.deviceType === 'multiDevice' ? 'multiDevice' : 'singleDevice';
    return verifiedMethod(webauthnInfo, {
      factorId: cred.id,
      amr: webauthnAmr({ deviceType, transports, userVerified: info.userVerified }),
      userVerified: info.userVerified,
      nowMs: now,
    });
  }

  /** The user's passkeys and security keys for the account page. */
  async listCredentials(userId: string): Promise<WebAuthnCredentialSummary[]> {
    const rows = await this.factors.listByUser(userId, { kind: 'webauthn', status: 'active' });
    return rows.map((f) => ({
      id: f.id,
      name: f.name,
      createdAt: f.createdAt,
      lastUsedAt: f.lastUsedAt,
      deviceType: f.meta.deviceType === 'multiDevice' || f.meta.deviceType === 'singleDevice' ? f.meta.deviceType : null,
      backedUp: f.meta.backedUp === true,
      transports: metaTransports(f),
    }));
  }
}
