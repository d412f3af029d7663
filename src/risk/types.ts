/**
 * The risk engine's contract: the policy (from the policy file), the signals the collector gathers (the only
 * I/O), and the decision the pure scorer returns. The decision becomes one demand of the one assurance rule
 * (policy/requirement.ts): it may ask for a second factor or deny, never raise a level by itself.
 */
import type { SecondApprovalAction } from '../admin/approval-kinds.js';

/** What a signal does when it fires. `ignore`: scored, never prompts by itself. */
export type RiskAction = 'ignore' | 'prompt_mfa' | 'require_mfa' | 'deny';

export type SignalName =
  | 'new_device'
  | 'new_network'
  | 'new_location'
  | 'impossible_travel'
  | 'session_context_changed'
  | 'failed_attempts'
  | 'credential_stuffing'
  | 'sensitive_action'
  | 'stale_mfa'
  | 'deny_listed_network'
  | 'new_account'
  | 'push_denied';

export interface RiskPolicy {
  mfaEnforcement: {
    /** Every user must enroll a second factor (after the grace period). */
    allUsers: boolean;
    gracePeriodSeconds: number;
    excludeServiceAccounts: boolean;
    /** Today's stricter rule: every sign-in of an enrolled user asks for a second factor, whatever the risk. */
    everySignIn: boolean;
  };
  /** Per-signal action. Keys of the seed shape: new_device, new_location, sensitive_action. */
  riskBasedPrompting: Record<SignalName, RiskAction>;
  /** Points each fired signal adds to the score. */
  weights: Record<SignalName, number>;
  thresholds: {
    /** A score at or above this demands a second factor even when no single signal prompts. */
    stepUp: number;
    /** A score at or above this denies. */
    deny: number;
  };
  /** Days a "remember this device" choice spares risk-driven prompts (0 disables the choice). */
  rememberedDeviceDays: number;
  /** A sensitive action needs a second factor verified this recently, even when the session holds loa2. */
  sensitiveActionMaxAgeSeconds: number;
  /** Time since the last second factor after which `stale_mfa` fires. */
  mfaMaxAgeSeconds: number;
  velocity: {
    windowSeconds: number;
    /** Failed attempts for the account within the window before `failed_attempts` fires. */
    accountFailures: number;
    /** Failed attempts from the IP within the window before `failed_attempts` fires. */
    ipFailures: number;
    /** Distinct accounts failing from one IP within the window before `credential_stuffing` fires. */
    ipDistinctAccounts: number;
  };
  /** Above this speed between the last successful sign-in and now, `impossible_travel` fires. */
  impossibleTravelKmh: number;
  /** Accounts younger than this fire `new_account`. */
  newAccountSeconds: number;
  networks: {
    /** CIDRs treated as known networks for every user (offices, VPN egress). */
    allow: string[];
    /** CIDRs from which every sign-in is denied. */
    deny: string[];
  };
  recovery: {
    backupCodes: number;
    /** `off` (or its earlier spelling `disabled`): no admin recovery can be started (src/recovery/). */
    adminRecovery: 'verify_with_id' | 'off' | 'disabled';
    recoveryTimeoutSeconds: number;
  };
  /** Admin actions that need a second admin's approval (four eyes, src/admin/pending.ts); absent = none. */
  admin?: { secondApproval: SecondApprovalAction[] };
}

/** A yes/no signal that may be impossible to tell (no GeoIP database, first sign-in ever). */
export type Tri = boolean | 'unknown';

export interface RiskSignals {
  account: {
    ageSeconds: number;
    serviceAccount: boolean;
    /** Usable second factors enrolled. */
    secondFactors: number;
    /** When the account's last second factor was verified (epoch seconds), if ever. */
    lastMfaAt: number | null;
    /** Push requests the user denied ("this wasn't me") within the velocity window. Absent in old records. */
    pushDenials?: number;
  };
  device: {
    /** The browser carries a device cookie this account has signed in with before. */
    known: boolean;
    /** The user chose "remember this device" and it has not expired or been revoked. */
    remembered: boolean;
  };
  network: {
    /** IPv4 /24 or IPv6 /48 of the client, null when the address is unusable. */
    prefix: string | null;
    /** This user signed in successfully from that prefix before, or it is allow-listed. */
    known: boolean;
    allowListed: boolean;
    denyListed: boolean;
  };
  location: {
    country: string | null;
    city: string | null;
    /** The country/city was seen for this user before; 'unknown' without a GeoIP database or history. */
    known: Tri;
    impossibleTravel: Tri;
    /** km/h between the last successful sign-in and now, when computable. */
    speedKmh: number | null;
  };
  velocity: {
    accountFailures: number;
    ipFailures: number;
    ipDistinctAccounts: number;
  };
  request: {
    /** The request asks for a scope the client lists as sensitive. */
    sensitive: boolean;
    /** An SSO request whose session was established from another device or network. */
    sessionContextChanged: boolean;
  };
}

export interface RiskReason {
  signal: SignalName;
  action: RiskAction;
  points: number;
  /** Short human text for audit and the user's activity list, e.g. "new device". */
  detail: string;
}

export type RiskOutcome =
  | { kind: 'allow' }
  /** `bypassRemembered`: the demand holds even on a remembered device (require_mfa, deny-level scores). */
  | { kind: 'step_up'; level: number; bypassRemembered: boolean; maxAgeSeconds?: number }
  | { kind: 'deny' };

export interface RiskDecision {
  score: number;
  reasons: RiskReason[];
  decision: RiskOutcome;
}
