/**
 * A software WebAuthn authenticator for tests (no browser): P-256 (ES256) keys from node:crypto,
 * `none` attestation, discoverable credentials (each remembers the user handle from registration) and a
 * per-credential signature counter that increments on every assertion.
 *
 * Every knob a relying-party test needs to forge a bad response is an option: origin, clientDataJSON type,
 * rpID (for the rpIdHash), flags (UP/UV/BE/BS), counter, userHandle, crossOrigin and a flipped byte.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoBase64URL, isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

export interface SoftAuthenticatorOptions {
  rpID: string;
  origin: string;
  /** UV flag (PIN/biometric done). Default true. */
  userVerified?: boolean;
  /** BE+BS flags: a synced passkey (credentialDeviceType 'multiDevice'). Default false (device-bound key). */
  backupEligible?: boolean;
  /** Transports reported at registration. Default ['usb'] (roaming security key); use ['internal'] for a platform passkey. */
  transports?: AuthenticatorTransport[];
  /** Never increment the signature counter (always 0), as synced passkeys do. Default false. */
  staticCounter?: boolean;
  /** AAGUID (16 bytes, hex without dashes). Default all zeros. */
  aaguid?: string;
}

export interface SoftCredential {
  /** base64url credential id. */
  id: string;
  privateKey: KeyObject;
  /** base64url user handle (the options' user.id). */
  userHandle: string;
  rpID: string;
  counter: number;
}

/** Which byte to flip: true / 'signature' (default), or a byte of authenticatorData / clientDataJSON. */
export type FlipTarget = boolean | 'signature' | 'authenticatorData' | 'clientDataJSON';

export interface ClientOverrides {
  /** clientDataJSON.origin (default: the authenticator's origin). */
  origin?: string;
  /** clientDataJSON.type (default 'webauthn.create' / 'webauthn.get'). */
  type?: string;
  /** RP ID hashed into authenticatorData (default: the authenticator's rpID). */
  rpID?: string;
  /** clientDataJSON.challenge (default: the options' challenge). */
  challenge?: string;
  crossOrigin?: boolean;
  topOrigin?: string;
  userPresent?: boolean;
  userVerified?: boolean;
}

export interface RegisterOverrides extends ClientOverrides {
  /** Re-register an existing credential (same id and key) instead of creating one — e.g. a duplicate. */
  reuseCredentialId?: string;
}

export interface AuthenticateOverrides extends ClientOverrides {
  /**
   * userHandle to report: undefined → the credential's own handle; null → omit it (non-discoverable style);
   * a string → that base64url value (e.g. another user's handle).
   */
  userHandle?: string | null;
  /** Report this counter instead of incrementing (the stored counter is left unchanged). */
  counterOverride?: number;
  /** Use this credential even if it is not in allowCredentials. */
  credentialId?: string;
  flipByte?: FlipTarget;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const b64u = (data: Uint8Array) => Buffer.from(data).toString('base64url');

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function flip(b64: string): string {
  const buf = Buffer.from(b64, 'base64url');
  const i = Math.floor(buf.length / 2);
  buf[i] = buf[i]! ^ 0x01;
  return buf.toString('base64url');
}

export class SoftAuthenticator {
  readonly rpID: string;
  readonly origin: string;
  userVerified: boolean;
  readonly backupEligible: boolean;
  readonly transports: AuthenticatorTransport[];
  readonly staticCounter: boolean;
  readonly aaguid: Buffer;
  /** Credentials by base64url id, in registration order. */
  readonly credentials = new Map<string, SoftCredential>();

  constructor(opts: SoftAuthenticatorOptions) {
    this.rpID = opts.rpID;
    this.origin = opts.origin;
    this.userVerified = opts.userVerified ?? true;
    this.backupEligible = opts.backupEligible ?? false;
    this.transports = opts.transports ?? ['usb'];
    this.staticCounter = opts.staticCounter ?? false;
    this.aaguid = opts.aaguid ? Buffer.from(opts.aaguid.replace(/-/g, ''), 'hex') : Buffer.alloc(16);
    if (this.aaguid.length !== 16) throw new Error('aaguid must be 16 bytes');
  }

  /** The most recently registered credential. */
  get last(): SoftCredential {
    const all = [...this.credentials.values()];
    const c = all[all.length - 1];
    if (!c) throw new Error('no credential registered');
    return c;
  }

  private flags(o: ClientOverrides, extra = 0): number {
    let f = extra;
    if (o.userPresent ?? true) f |= FLAG_UP;
    if (o.userVerified ?? this.userVerified) f |= FLAG_UV;
    if (this.backupEligible) f |= FLAG_BE | FLAG_BS;
    return f;
  }

  private clientData(type: string, challenge: string, o: ClientOverrides): string {
    const data: Record<string, unknown> = {
      type: o.type ?? type,
      challenge: o.challenge ?? challenge,
      origin: o.origin ?? this.origin,
      crossOrigin: o.crossOrigin ?? false,
    };
    if (o.topOrigin !== undefined) data.topOrigin = o.topOrigin;
    return Buffer.from(JSON.stringify(data)).toString('base64url');
  }

  /** navigator.credentials.create(): a `none` attestation for a new (discoverable) P-256 credential. */
  register(optionsJSON: PublicKeyCredentialCreationOptionsJSON, o: RegisterOverrides = {}): RegistrationResponseJSON {
    const rpID = o.rpID ?? optionsJSON.rp.id ?? this.rpID;
    let cred: SoftCredential;
    if (o.reuseCredentialId) {
      const existing = this.credentials.get(o.reuseCredentialId);
      if (!existing) throw new Error('unknown credential to reuse');
      cred = existing;
    } else {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      cred = { id: b64u(randomBytes(32)), privateKey, userHandle: optionsJSON.user.id, rpID: this.rpID, counter: 0 };
    }

    const jwk = cred.privateKey.export({ format: 'jwk' });
    const coseKey = new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
      [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
    ]);
    const credIdBytes = Buffer.from(cred.id, 'base64url');
    const credIdLen = Buffer.alloc(2);
    credIdLen.writeUInt16BE(credIdBytes.length);
    const authData = Buffer.concat([
      sha256(rpID),
      Buffer.from([this.flags(o, FLAG_AT)]),
      u32(cred.counter),
      this.aaguid,
      credIdLen,
      credIdBytes,
      Buffer.from(isoCBOR.encode(coseKey)),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Map<string, string> | Uint8Array>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, string>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    if (!o.reuseCredentialId) this.credentials.set(cred.id, cred);

    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      response: {
        clientDataJSON: this.clientData('webauthn.create', optionsJSON.challenge, o),
        attestationObject: isoBase64URL.fromBuffer(attestationObject),
        transports: this.transports,
      },
      clientExtensionResults: {},
      authenticatorAttachment: this.transports.includes('internal') ? 'platform' : 'cross-platform',
    };
  }

  /** navigator.credentials.get(): an ES256 assertion; increments the credential's counter. */
  authenticate(optionsJSON: PublicKeyCredentialRequestOptionsJSON, o: AuthenticateOverrides = {}): AuthenticationResponseJSON {
    let cred: SoftCredential | undefined;
    if (o.credentialId) {
      cred = this.credentials.get(o.credentialId);
    } else if (optionsJSON.allowCredentials && optionsJSON.allowCredentials.length > 0) {
      cred = optionsJSON.allowCredentials.map((c) => this.credentials.get(c.id)).find(Boolean);
    } else {
      // Discoverable: the newest credential for this RP.
      cred = [...this.credentials.values()].reverse().find((c) => c.rpID === (optionsJSON.rpId ?? this.rpID));
    }
    if (!cred) throw new Error('SoftAuthenticator: no matching credential');

    let counter: number;
    if (o.counterOverride !== undefined) counter = o.counterOverride;
    else {
      if (!this.staticCounter) cred.counter += 1;
      counter = cred.counter;
    }

    let authenticatorData = Buffer.concat([sha256(o.rpID ?? cred.rpID), Buffer.from([this.flags(o)]), u32(counter)]).toString('base64url');
    let clientDataJSON = this.clientData('webauthn.get', optionsJSON.challenge, o);
    const signed = Buffer.concat([Buffer.from(authenticatorData, 'base64url'), sha256(Buffer.from(clientDataJSON, 'base64url'))]);
    let signature = sign('sha256', signed, cred.privateKey).toString('base64url'); // DER-encoded ECDSA

    if (o.flipByte) {
      const target = o.flipByte === true ? 'signature' : o.flipByte;
      if (target === 'signature') signature = flip(signature);
      else if (target === 'authenticatorData') authenticatorData = flip(authenticatorData);
      else clientDataJSON = flip(clientDataJSON);
    }

    const userHandle = o.userHandle === undefined ? cred.userHandle : o.userHandle === null ? undefined : o.userHandle;
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      response: {
        clientDataJSON,
        authenticatorData,
        signature,
        ...(userHandle !== undefined ? { userHandle } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: this.transports.includes('internal') ? 'platform' : 'cross-platform',
    };
  }
}
