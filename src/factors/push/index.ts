/**
 * Push approval on an enrolled phone: a possession factor ("something you have"), amr `swk` (+ `user` when the
 * app verified its user), never phishing-resistant — a real-time phishing page can relay the number.
 *
 * - Enrollment: the account page shows a single-use token (10 minutes, QR code); the app registers a P-256
 *   public key with it (POST /push/v1/devices) and the row stays `pending` until the signed-in user confirms
 *   on the page that the device showed up. The device gets a bearer credential (stored hashed) for the pull
 *   endpoint; its answers are signed with its key (protocol.ts), which never leaves it.
 * - Challenge: opened by the sign-in page with a 2-digit number shown there only, delivered by the transport
 *   (FCM data message, or pulled), answerable once for 2 minutes. The server checks the signature, then
 *   consumes the challenge (`take`: one answer, also under races), then checks expiry and the number.
 * - Fatigue limits: one pending push per user, at most `maxPerHour` per hour since the last approval, and a
 *   cool-down after a denial. A refused push never blocks the page's other methods.
 */
import type QRCode from 'qrcode';
import { lazy } from '../../lazy.js';
import type { Logger } from 'pino';
import { verifiedMethod, type Factor, type FactorContext, type FactorInfo, type FactorInput, type VerifiedMethod, type ViewModel } from '../types.js';
import type { FactorRecord, FactorsRepo } from '../../store/repos/factors.js';
import type { KvStore } from '../../store/kv.js';
import type { AuditLog } from '../../audit/log.js';
import type { PushTransport } from '../../notify/push.js';
import { AppError } from '../../errors/index.js';
import { newId, randomToken } from '../../security/crypto.js';
import { CHALLENGE_TTL_SECONDS, ENROLLMENT_TTL_SECONDS, encodeEnrollmentToken, isLive, newNumber, numberMatches, secretHash, type ChallengeNotice } from './protocol.js';
import { PushState, type ChallengeRecord } from './state.js';
import { PushDevices } from './devices.js';
import { PUSH_DENIED_EVENT } from '../../risk/collector.js';
import { currentLocaleSync } from '../../i18n/context.js';

/** The status sentence (built in English, with its numbers) in the language of the request showing it. */
function inPageLanguage<T extends { message?: unknown }>(view: T): T {
  const current = currentLocaleSync();
  return current && typeof view.message === 'string' ? { ...view, message: current.i18n.sentence(current.lang, view.message) } : view;
}

/** Loaded on first enrollment only (start-up time, idle memory). */
const qrcode = lazy<typeof QRCode>('qrcode');

export const pushInfo: FactorInfo = {
  kind: 'push',
  label: 'Phone approval (push)',
  category: 'possession',
  phishingResistant: false,
  canBePrimary: false,
};

export interface PushSettings {
  issuer: string;
  /** Pushes per user per hour (counted since the last approval). */
  maxPerHour: number;
  /** Pause after a denial. */
  denyCooldownSeconds: number;
}

export interface PushFactorDeps {
  factors: FactorsRepo;
  kv: KvStore;
  transport: PushTransport;
  settings: PushSettings;
  now: () => number;
  audit?: AuditLog;
  log?: Logger;
}

/** What the sign-in page polls (GET /interaction/:uid/factor/push/status). */
export interface PushStatus {
  status: 'pending' | 'approved' | 'denied' | 'wrong_number' | 'expired' | 'none';
  message: string;
  expiresAt?: string;
}

const utcMinute = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const minutes = (ms: number) => Math.max(1, Math.ceil(ms / 60_000));

export const PUSH_MESSAGES = {
  pending: 'Waiting for your approval on your phone…',
  approved: 'Approved on your phone. Continuing…',
  denied: (cooldownMin: number) =>
    `You denied this request on your phone. If you did not try to sign in, someone may know your password: change it.${cooldownMin > 0 ? ` Push requests are paused for ${cooldownMin} minute${cooldownMin === 1 ? '' : 's'}.` : ''} You can use another method below.`,
  wrongNumber: 'The number chosen on your phone did not match the one shown here. Send a new request and choose the number on this page.',
  expired: 'This request expired. Send a new request, or use another method below.',
  waitingElsewhere:
    'Another sign-in is already waiting for approval on your phone. Answer it there, or wait until it expires (at most 2 minutes), or use another method below.',
  cooldown: (untilMs: number, nowMs: number) =>
    `A push was denied on your phone, so push requests are paused for ${minutes(untilMs - nowMs)} more minute${minutes(untilMs - nowMs) === 1 ? '' : 's'} (until ${utcMinute(untilMs)} UTC). Use another method below.`,
  capped: 'Too many push requests in the last hour. Try again later, or use another method below.',
  unreachable:
    'We could not reach your phone app: it may have been removed or reinstalled. Use another method below, then set up push again on your account page.',
} as const;

export class PushFactor implements Factor {
  readonly info = pushInfo;
  readonly state: PushState;
  readonly devices: PushDevices;

  constructor(private readonly deps: PushFactorDeps) {
    this.state = new PushState(deps.kv);
    this.devices = new PushDevices({ factors: deps.factors, state: this.state, issuer: deps.settings.issuer, now: deps.now });
  }

  get transportName() {
    return this.deps.transport.name;
  }

  // ------------------------------------------------------------------ enrollment (account page)

  /** A fresh enrollment token (QR + text) for this user; the device registers with it within 10 minutes. */
  async startEnrollment(ctx: FactorContext, _input: FactorInput): Promise<ViewModel> {
    const secret = randomToken(32);
    const expiresAt = ctx.now + ENROLLMENT_TTL_SECONDS * 1000;
    const id = newId();
    await this.state.startEnrollment({ id, userId: ctx.userId, expiresAt }, secretHash(secret), ctx.now);
    const token = encodeEnrollmentToken({ iss: this.deps.settings.issuer, t: secret });
    const qrDataUrl = await qrcode().toDataURL(token, { errorCorrectionLevel: 'M', margin: 1, width: 240 });
    return { token, qrDataUrl, enrollmentId: id, expiresAtText: `${utcMinute(expiresAt)} UTC`, statusUrl: `/account/factors/push/enrollment/${id}` };
  }

  /** The signed-in user confirms the device that registered with their token: pending → active. */
  async finishEnrollment(ctx: FactorContext, input: FactorInput): Promise<{ factorId: string; view: ViewModel }> {
    const id = typeof input.enrollmentId === 'string' ? input.enrollmentId : '';
    const rec = id ? await this.state.enrollment(id) : null;
    if (!rec || rec.userId !== ctx.userId) throw new AppError('not_found', 'This setup request expired. Start again from your account page.');
    if (!rec.factorId) {
      throw new AppError(
        'push_pending',
        rec.expiresAt > ctx.now
          ? 'Your phone has not registered yet: scan the code with the app (or run `stepwise device enroll` with the code), then press Done.'
          : 'The setup code expired before a phone registered. Start again from your account page.',
      );
    }
    if (!(await this.deps.factors.activate(rec.factorId))) throw new AppError('not_found', 'This setup request expired. Start again from your account page.');
    await this.state.endEnrollment(rec.id);
    return { factorId: rec.factorId, view: {} };
  }

  /** What the account page polls while it waits for the device. */
  async enrollmentStatus(userId: string, id: string): Promise<{ status: 'waiting' | 'registered' | 'expired'; deviceName?: string }> {
    const rec = await this.state.enrollment(id);
    if (!rec || rec.userId !== userId) return { status: 'expired' };
    if (rec.factorId) return { status: 'registered', deviceName: rec.deviceName ?? '' };
    return { status: rec.expiresAt > this.deps.now() ? 'waiting' : 'expired' };
  }

  // ------------------------------------------------------------------ sign-in

  /**
   * Opens (or shows again) this sign-in's push. The page reuses a live or answered challenge, so a reload sends
   * nothing new; a fatigue limit or an unreachable phone gives a `blocked` view, never an error, so the page
   * still offers the other methods.
   */
  async startChallenge(ctx: FactorContext): Promise<ViewModel> {
    return inPageLanguage(await this.challengeView(ctx));
  }

  private async challengeView(ctx: FactorContext): Promise<ViewModel> {
    const existing = await this.state.forScope(ctx.scope);
    if (existing && existing.userId === ctx.userId) return this.viewOf(existing, ctx.now);
    const blocked = (message: string) => ({ state: 'blocked', message });
    const cooldown = await this.state.cooldownUntil(ctx.userId, ctx.now);
    if (cooldown) return blocked(PUSH_MESSAGES.cooldown(cooldown, ctx.now));
    if (await this.state.pendingOf(ctx.userId, ctx.now)) return blocked(PUSH_MESSAGES.waitingElsewhere);

    const targets = (await this.deps.factors.listByUser(ctx.userId, { kind: 'push', status: 'active' })).filter((d) => d.meta.stale !== true);
    if (targets.length === 0) return blocked(PUSH_MESSAGES.unreachable);

    const ch: ChallengeRecord = {
      id: randomToken(16),
      userId: ctx.userId,
      scope: ctx.scope,
      number: newNumber(),
      devices: targets.map((d) => d.id),
      createdAt: ctx.now,
      expiresAt: ctx.now + CHALLENGE_TTL_SECONDS * 1000,
      client: (ctx.request?.client ?? 'an application').slice(0, 100),
      ip: (ctx.request?.ip ?? 'unknown').slice(0, 64),
      location: (ctx.request?.location ?? 'unknown location').slice(0, 100),
      status: 'pending',
    };
    if (!(await this.state.acquireSlot(ctx.userId, ch.id, ch.expiresAt, ctx.now))) return blocked(PUSH_MESSAGES.waitingElsewhere);
    // Counted while holding the user's one slot, so concurrent starts cannot both slip under the cap.
    if ((await this.state.recentSends(ctx.userId, ctx.now)).length >= this.deps.settings.maxPerHour) {
      await this.state.releaseSlot(ctx.userId, ch.id, ctx.now);
      await this.deps.audit?.record({ type: 'factor.push.capped', outcome: 'failure', userId: ctx.userId, ip: ch.ip });
      return blocked(PUSH_MESSAGES.capped);
    }
    await this.state.recordSend(ctx.userId, ctx.now);

    const reachable = await this.deliver(ch, targets);
    if (reachable.length === 0) {
      await this.state.releaseSlot(ctx.userId, ch.id, ctx.now);
      return blocked(PUSH_MESSAGES.unreachable);
    }
    await this.state.open({ ...ch, devices: reachable }, ctx.now);
    await this.deps.audit?.record({
      type: 'factor.push.sent',
      outcome: 'success',
      userId: ctx.userId,
      ip: ch.ip,
      details: { challengeId: ch.id, devices: reachable.length, transport: this.deps.transport.name },
    });
    return { state: 'pending', number: ch.number, message: PUSH_MESSAGES.pending, expiresAtText: `${utcMinute(ch.expiresAt)} UTC` };
  }

  /** Sends to every target; an FCM "unregistered" marks that device stale. Returns the devices that can answer. */
  private async deliver(ch: ChallengeRecord, targets: FactorRecord[]): Promise<string[]> {
    const notice = { ...noticeOf(ch), issuer: this.deps.settings.issuer };
    const reachable: string[] = [];
    for (const device of targets) {
      const fcmToken = typeof device.meta.fcmToken === 'string' ? device.meta.fcmToken : null;
      const outcome = await this.deps.transport.deliver({ id: device.id, fcmToken }, notice);
      if (outcome === 'unregistered') {
        await this.devices.markStale(device);
        await this.deps.audit?.record({ type: 'factor.push.stale', outcome: 'failure', userId: ch.userId, details: { factorId: device.id } });
      } else {
        reachable.push(device.id);
      }
    }
    return reachable;
  }

  /**
   * The page for this sign-in's existing challenge. One that ended (denied, expired, wrong number, used) stays
   * ended: only the page's "Send a new request" button (`forget`) lets the next render send another push.
   */
  private async viewOf(ch: ChallengeRecord, now: number): Promise<ViewModel> {
    const status = await this.statusOf({ userId: ch.userId, userEmail: '', userName: null, scope: ch.scope, now });
    if (status.status === 'pending') return { state: 'pending', number: ch.number, message: status.message, expiresAtText: `${utcMinute(ch.expiresAt)} UTC` };
    if (status.status === 'approved') return { state: 'approved', number: ch.number, message: status.message };
    return { state: 'ended', message: status.message };
  }

  /** "Send a new request": forgets this sign-in's ended challenge (a live one is kept: no second push). */
  async forget(ctx: FactorContext): Promise<void> {
    const ch = await this.state.forScope(ctx.scope);
    if (!ch || ch.userId !== ctx.userId) return;
    if ((ch.status === 'pending' && isLive(ch.expiresAt, ctx.now)) || ch.status === 'approved') return;
    await this.state.forgetScope(ctx.scope);
  }

  /** The page's poll: the state of this sign-in's push. */
  async status(ctx: FactorContext): Promise<PushStatus> {
    return inPageLanguage(await this.statusOf(ctx));
  }

  private async statusOf(ctx: FactorContext): Promise<PushStatus> {
    const ch = await this.state.forScope(ctx.scope);
    if (!ch || ch.userId !== ctx.userId) return { status: 'none', message: PUSH_MESSAGES.expired };
    switch (ch.status) {
      case 'pending':
        return isLive(ch.expiresAt, ctx.now)
          ? { status: 'pending', message: PUSH_MESSAGES.pending, expiresAt: new Date(ch.expiresAt).toISOString() }
          : { status: 'expired', message: PUSH_MESSAGES.expired };
      case 'approved':
        return { status: 'approved', message: PUSH_MESSAGES.approved };
      case 'denied': {
        const until = await this.state.cooldownUntil(ch.userId, ctx.now);
        return { status: 'denied', message: PUSH_MESSAGES.denied(until ? minutes(until - ctx.now) : 0) };
      }
      case 'wrong_number':
        return { status: 'wrong_number', message: PUSH_MESSAGES.wrongNumber };
      default:
        return { status: 'expired', message: PUSH_MESSAGES.expired };
    }
  }

  /** "Continue": completes the step once the push was approved (each approval completes one step). */
  async verify(ctx: FactorContext, _input: FactorInput): Promise<VerifiedMethod> {
    const ch = await this.state.forScope(ctx.scope);
    if (!ch || ch.userId !== ctx.userId) throw new AppError('challenge_expired', PUSH_MESSAGES.expired);
    if (ch.status === 'pending') {
      if (!isLive(ch.expiresAt, ctx.now)) throw new AppError('challenge_expired', PUSH_MESSAGES.expired);
      throw new AppError('push_pending');
    }
    if (ch.status === 'denied') throw new AppError('push_denied');
    if (ch.status === 'wrong_number') throw new AppError('invalid_code', PUSH_MESSAGES.wrongNumber);
    if (ch.status !== 'approved' || !ch.answeredBy) throw new AppError('challenge_expired', PUSH_MESSAGES.expired);
    if (!(await this.state.takeApproval(ch.id))) throw new AppError('challenge_expired', PUSH_MESSAGES.expired);
    await this.state.saveChallenge({ ...ch, status: 'used' });
    // The device must still be an active push factor of this user (removed meanwhile → nothing verified).
    const device = await this.deps.factors.findById(ch.answeredBy);
    if (!device || device.userId !== ctx.userId || device.kind !== 'push' || device.status !== 'active') {
      throw new AppError('challenge_expired', PUSH_MESSAGES.expired);
    }
    await this.state.clearSends(ctx.userId);
    const userVerified = ch.userVerified === true;
    return verifiedMethod(pushInfo, { factorId: device.id, amr: userVerified ? ['swk', 'user'] : ['swk'], userVerified, nowMs: ctx.now });
  }

  // ------------------------------------------------------------------ device side (JSON API)

  /**
   * A device's answer to a challenge. Order matters: the signature is checked before the challenge is
   * consumed (a request not signed by an offered device key burns nothing), then `take` makes the answer
   * single-use, then expiry and the number are checked. A wrong number ends the challenge (one guess).
   */
  async answer(device: FactorRecord, challengeId: string, body: unknown, meta: { ip?: string } = {}): Promise<{ status: 'approved' | 'denied' }> {
    const now = this.deps.now();
    const { ch, answer } = await this.devices.checkAnswer(device, challengeId, body);
    if (!(await this.state.takeOpen(ch.id))) {
      const latest = await this.state.challenge(ch.id);
      // Still pending and live: a racing answer took it and has not recorded its outcome yet — this one is
      // second all the same (seen in CI as a 410 instead of a 409).
      if (latest && (latest.status !== 'pending' || isLive(latest.expiresAt, now))) throw new AppError('conflict', 'This request was already answered.');
      throw new AppError('challenge_expired', 'This request expired.');
    }
    const settle = async (status: ChallengeRecord['status']) => {
      await this.state.saveChallenge({ ...ch, status, answeredAt: now, answeredBy: device.id, userVerified: answer.userVerified });
      await this.state.releaseSlot(ch.userId, ch.id, now);
    };
    const auditBase = { userId: ch.userId, ip: ch.ip, details: { challengeId: ch.id, factorId: device.id, client: ch.client, deviceIp: meta.ip ?? null } };
    if (!isLive(ch.expiresAt, now)) {
      await settle('expired');
      throw new AppError('challenge_expired', 'This request expired.');
    }
    if (answer.decision === 'deny') {
      await settle('denied');
      await this.state.startCooldown(ch.userId, now, this.deps.settings.denyCooldownSeconds);
      await this.deps.audit?.record({ type: PUSH_DENIED_EVENT, outcome: 'failure', ...auditBase });
      return { status: 'denied' };
    }
    if (!numberMatches(ch.number, answer.number)) {
      await settle('wrong_number');
      await this.deps.audit?.record({ type: 'factor.push.wrong_number', outcome: 'failure', ...auditBase });
      throw new AppError('invalid_code', 'That number does not match the one shown on the sign-in page.');
    }
    await this.state.approve(ch.id);
    await settle('approved');
    await this.deps.factors.touch(device.id);
    await this.deps.audit?.record({ type: 'factor.push.approved', outcome: 'success', ...auditBase });
    return { status: 'approved' };
  }

  /** POST /push/v1/devices: a device registers with an enrollment token (pending until the user confirms). */
  async registerDevice(body: unknown, meta: { ip?: string } = {}) {
    const { device, userId } = await this.devices.register(body);
    await this.deps.audit?.record({ type: 'factor.push.registered', outcome: 'success', userId, ip: meta.ip ?? null, details: { factorId: device.deviceId } });
    return device;
  }

  /** Pending challenges offered to this device (the pull endpoint): what the app shows, never the number. */
  async pendingFor(device: FactorRecord): Promise<ChallengeNotice[]> {
    if (device.status !== 'active') return [];
    const now = this.deps.now();
    const id = await this.state.pendingOf(device.userId, now);
    const ch = id ? await this.state.challenge(id) : null;
    if (!ch || ch.status !== 'pending' || !isLive(ch.expiresAt, now) || !ch.devices.includes(device.id)) return [];
    return [noticeOf(ch)];
  }
}

export function noticeOf(ch: ChallengeRecord): ChallengeNotice {
  return {
    id: ch.id,
    client: ch.client,
    ip: ch.ip,
    location: ch.location,
    time: new Date(ch.createdAt).toISOString(),
    expiresAt: new Date(ch.expiresAt).toISOString(),
  };
}

/** What the container supplies besides the factor table and the store. */
export type PushRuntime = Pick<PushFactorDeps, 'transport' | 'now' | 'audit' | 'log'>;
