/**
 * Known browsers: a signed, HttpOnly, long-lived cookie holding a random device id, and the server's memory
 * (KV store) of which accounts have signed in successfully from that device. Throttling uses it to let the
 * real user through while strangers hammer their account (see security/login-guard.ts).
 *
 * The store key is a SHA-256 of the device id and the user id, never the id itself: a copy of the store does
 * not yield cookie values (which are also signed with the cookie keys).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { KvStore } from '../store/kv.js';

export const DEVICE_COOKIE = 'stepwise_device';
export const KNOWN_BROWSER_TTL_SECONDS = 180 * 24 * 3600;

/** The shape of a device cookie value (32 random bytes, base64url). */
export const DEVICE_ID = /^[A-Za-z0-9_-]{43}$/;

/** A stable, non-secret handle for a device id (throttle keys, logs). */
export function deviceHandle(deviceId: string): string {
  return createHash('sha256').update(`device:${deviceId}`).digest('base64url').slice(0, 22);
}

export interface KnownBrowsersOptions {
  /** Secure cookie (the issuer is https). */
  secure: boolean;
  ttlSeconds?: number;
}

export class KnownBrowsers {
  private readonly ttlSeconds: number;

  constructor(
    private readonly kv: KvStore,
    private readonly opts: KnownBrowsersOptions,
  ) {
    this.ttlSeconds = opts.ttlSeconds ?? KNOWN_BROWSER_TTL_SECONDS;
  }

  /** The device id of this browser, when it carries a validly signed device cookie. */
  read(ctx: Context): string | null {
    const value = ctx.cookies.get(DEVICE_COOKIE, { signed: true });
    return value && DEVICE_ID.test(value) ? value : null;
  }

  /** True when `userId` has signed in from this device within the TTL. */
  async isKnownFor(deviceId: string, userId: string): Promise<boolean> {
    return (await this.kv.get(this.key(deviceId, userId))) !== null;
  }

  /**
   * Records that `userId` signed in from this browser: reuses the browser's device id or issues one, and
   * (re)sets the cookie so both the cookie and the record last another TTL. Returns the device id.
   */
  async remember(ctx: Context, userId: string): Promise<string> {
    const deviceId = this.read(ctx) ?? randomBytes(32).toString('base64url');
    await this.kv.set(this.key(deviceId, userId), '1', this.ttlSeconds);
    ctx.cookies.set(DEVICE_COOKIE, deviceId, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: this.opts.secure,
      path: '/',
      maxAge: this.ttlSeconds * 1000,
      overwrite: true,
    });
    return deviceId;
  }

  private key(deviceId: string, userId: string): string {
    return `known-browser:${createHash('sha256').update(`${deviceId}\0${userId}`).digest('base64url')}`;
  }
}
