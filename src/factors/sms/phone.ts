/**
 * Phone numbers for SMS codes: parsed and validated with libphonenumber-js (full metadata, so the number
 * type is known), normalised to E.164, and masked for display. Pure.
 */
import { lazy } from '../../lazy.js';

/** The full metadata (150 KB of number plans) loads with the first phone number, not at start-up. */
const phoneNumbers = lazy<typeof import('libphonenumber-js/max')>('libphonenumber-js/max');

export const PHONE_INPUT_MAX = 32;

export type PhoneCheck =
  | { ok: true; e164: string; country: string | undefined; masked: string }
  | { ok: false; message: string };

/** Types that can receive a text message. +1 (NANP) numbers are FIXED_LINE_OR_MOBILE: the plan cannot tell. */
const TEXTABLE = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

const TYPE_NAMES: Record<string, string> = {
  FIXED_LINE: 'a landline',
  TOLL_FREE: 'a toll-free number',
  PREMIUM_RATE: 'a premium-rate number',
  SHARED_COST: 'a shared-cost number',
  VOIP: 'an internet (VoIP) number',
  PERSONAL_NUMBER: 'a personal forwarding number',
  PAGER: 'a pager number',
  UAN: 'a company number',
  VOICEMAIL: 'a voicemail number',
};

export const E164_HINT = 'Enter the number in international format: + then the country code and the number, e.g. +14155550123.';

/**
 * Accepts "+<country code><number>" with optional spaces, dots, dashes and parentheses; anything else (a
 * national number without its country code, letters, 00 prefixes) gets a message that says what to type.
 */
export function checkPhoneNumber(raw: unknown): PhoneCheck {
  const input = typeof raw === 'string' ? raw.trim() : '';
  if (input === '') return { ok: false, message: `Enter your mobile number. ${E164_HINT}` };
  if (input.length > PHONE_INPUT_MAX) return { ok: false, message: `That is too long for a phone number. ${E164_HINT}` };
  if (!/^\+[0-9 ().-]+$/.test(input)) {
    return { ok: false, message: /^[0-9 ().-]+$/.test(input) ? `Add the country code. ${E164_HINT}` : `Use digits only. ${E164_HINT}` };
  }
  const parsed = phoneNumbers().parsePhoneNumberFromString(input);
  if (!parsed || !parsed.isPossible() || !parsed.isValid()) {
    return { ok: false, message: `That is not a valid phone number. Check the digits and the country code. ${E164_HINT}` };
  }
  const type = parsed.getType();
  if (!type || !TEXTABLE.has(type)) {
    const what = type ? TYPE_NAMES[type] : undefined;
    const why = what ? `That is ${what}, which cannot receive text messages.` : 'That is not a mobile number: it cannot receive text messages.';
    return { ok: false, message: `${why} Enter a mobile number.` };
  }
  return { ok: true, e164: parsed.number, country: parsed.country, masked: maskPhoneNumber(parsed.number) };
}

/** "+14155550123" → "+1 ••••••••23": the country code and the last two digits, nothing else. */
export function maskPhoneNumber(e164: string): string {
  const parsed = phoneNumbers().parsePhoneNumberFromString(e164);
  const cc = parsed?.countryCallingCode ?? '';
  const national = parsed?.nationalNumber ?? e164.replace(/^\+/, '');
  const shown = national.slice(-2);
  return `+${cc} ${'•'.repeat(Math.max(0, national.length - shown.length))}${shown}`;
}
