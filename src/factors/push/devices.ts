/**
 * Push devices as factor rows (kind `push`): registration with an enrollment token, the bearer credential of
 * the pull endpoint (stored as a SHA-256 hash in meta), answer checks, and the stale mark for FCM tokens that
 * no longer work. Row layout: public_key = the device's public JWK (JSON), credential_id = `push:` + its RFC 7638
 * thumbprint (the column is unique: one key, one device), meta = { credentialHash, fcmToken, stale, staleAt }.
 */
import { z } from 'zod';
import type { FactorRecord, FactorsRepo } from '../../store/repos/factors.js';
import { AppError } from '../../errors/index.js';
import { constantTimeEqual, newId, randomToken } from '../../security/crypto.js';
import {
  CHALLENGE_ID,
  decodeEnrollmentToken,
  jwkThumbprint,
  parsePublicJwk,
  secretHash,
  verifyAnswer,
  type AnswerFields,
  type PublicJwk,
} from './protocol.js';
import type { ChallengeRecord, PushState } from './state.js';

// eslint-disable-next-line no-control-regex
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

const registerSchema = z.object({
  token: z.string().min(1, 'The enrollment code is missing.').max(1000, 'The enrollment code is not valid.'),
  publicKey: z.unknown(),
  name: z.string().trim().min(1, 'Name the device.').max(60, 'Use at most 60 characters for the device name.').regex(NO_CONTROL, 'The device name is not valid.'),
  fcmToken: z.string().regex(/^[\x21-\x7e]{1,4096}$/, 'The FCM registration token is not valid.').optional(),
});

const answerSchema = z.object({
  decision: z.enum(['approve', 'deny'], { message: 'decision must be "approve" or "deny".' }),
  number: z.union([z.string().max(4), z.number().int().min(0).max(99)]).optional(),
  userVerified: z.boolean().optional(),
  signature: z.string().min(1, 'The signature is missing.').max(200, 'The signature is not valid.'),
});

const updateSchema = z.object({
  fcmToken: z.string().regex(/^[\x21-\x7e]{1,4096}$/, 'The FCM registration token is not valid.'),
});

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new AppError('invalid_form', r.error.issues[0]?.message);
  return r.data;
}

export interface RegisteredDevice {
  deviceId: string;
  /** Bearer credential for the device API (shown once). */
  credential: string;
  issuer: string;
  status: 'pending';
}

export class PushDevices {
  constructor(
    private readonly deps: { factors: FactorsRepo; state: PushState; issuer: string; now: () => number },
  ) {}

  /** POST /push/v1/devices: registers a device with an enrollment token (single use, 10 minutes). */
  async register(body: unknown): Promise<{ device: RegisteredDevice; userId: string }> {
    const input = parse(registerSchema, body);
    const token = decodeEnrollmentToken(input.token);
    if (!token) throw new AppError('invalid_form', 'The enrollment code is not valid.');
    if (token.iss !== this.deps.issuer) throw new AppError('invalid_form', 'This enrollment code belongs to another server.');
    const publicKey = parsePublicJwk(input.publicKey);
    if (!publicKey) throw new AppError('invalid_form', 'publicKey must be an EC P-256 public JWK (kty, crv, x, y; never the private key).');
    const now = this.deps.now();
    // Consumed before anything else: a token works once, whatever happens next.
    const enrollment = await this.deps.state.redeemToken(secretHash(token.t), now);
    if (!enrollment) throw new AppError('challenge_expired', 'This enrollment code expired or was already used. Start again from your account page.');

    // An earlier abandoned registration of this user never became usable: it makes way for this one.
    for (const p of await this.deps.factors.listByUser(enrollment.userId, { kind: 'push', status: 'pending' })) {
      await this.deps.factors.remove(enrollment.userId, p.id);
    }
    const id = newId();
    const secret = randomToken(32);
    await this.deps.factors.insert({
      id,
      userId: enrollment.userId,
      kind: 'push',
      name: input.name,
      status: 'pending',
      credentialId: `push:${jwkThumbprint(publicKey)}`,
      publicKey: JSON.stringify(publicKey),
      meta: { credentialHash: secretHash(secret), fcmToken: input.fcmToken ?? null, stale: false },
    });
    await this.deps.state.saveEnrollment({ ...enrollment, factorId: id, deviceName: input.name });
    return { device: { deviceId: id, credential: `${id}.${secret}`, issuer: this.deps.issuer, status: 'pending' }, userId: enrollment.userId };
  }

  /** The device named by `Authorization: Bearer <deviceId>.<secret>`; one error for every failure. */
  async authenticate(authorization: string | undefined): Promise<FactorRecord> {
    const fail = () => new AppError('not_authenticated', 'Unknown or revoked device credential.');
    const m = /^Bearer ([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(authorization ?? '');
    if (!m) throw fail();
    const device = await this.deps.factors.findById(m[1]!);
    const stored = typeof device?.meta.credentialHash === 'string' ? device.meta.credentialHash : '';
    if (!device || device.kind !== 'push' || !constantTimeEqual(stored, secretHash(m[2]!))) throw fail();
    return device;
  }

  /** Checks an answer's shape, that the challenge was offered to this device, and the device's signature. */
  async checkAnswer(device: FactorRecord, challengeId: string, body: unknown): Promise<{ ch: ChallengeRecord; answer: AnswerFields }> {
    const input = parse(answerSchema, body);
    const notFound = () => new AppError('not_found', 'No such request for this device.');
    if (!CHALLENGE_ID.test(challengeId) || device.status !== 'active') throw notFound();
    const ch = await this.deps.state.challenge(challengeId);
    if (!ch || ch.userId !== device.userId || !ch.devices.includes(device.id)) throw notFound();
    const number = input.number === undefined ? '' : typeof input.number === 'number' ? String(input.number).padStart(2, '0') : input.number.trim();
    if (input.decision === 'approve' && !/^[0-9]{2}$/.test(number)) throw new AppError('invalid_form', 'Enter the 2-digit number shown on the sign-in page.');
    if (number !== '' && !/^[0-9]{2}$/.test(number)) throw new AppError('invalid_form', 'The number must have 2 digits.');
    const answer: AnswerFields = { challengeId, decision: input.decision, number, userVerified: input.userVerified === true };
    if (!verifyAnswer(this.publicKeyOf(device), answer, input.signature)) throw new AppError('forbidden', 'The signature does not match this device key.');
    return { ch, answer };
  }

  /** PUT /push/v1/device: a new FCM registration token (tokens rotate); clears the stale mark. */
  async update(device: FactorRecord, body: unknown): Promise<void> {
    const input = parse(updateSchema, body);
    await this.deps.factors.updateMeta(device.id, { ...device.meta, fcmToken: input.fcmToken, stale: false, staleAt: null });
  }

  /** FCM said the token is gone: the device gets no more pushes until it sends a new token. */
  async markStale(device: FactorRecord): Promise<void> {
    await this.deps.factors.updateMeta(device.id, { ...device.meta, fcmToken: null, stale: true, staleAt: this.deps.now() });
  }

  private publicKeyOf(device: FactorRecord): PublicJwk {
    try {
      const jwk = parsePublicJwk(JSON.parse(device.publicKey ?? 'null'));
      if (jwk) return jwk;
    } catch {
      // fall through
    }
    throw new AppError('forbidden', 'The signature does not match this device key.');
  }
}
