import { describe, expect, it } from 'vitest';
import { checkPhoneNumber, maskPhoneNumber } from '../../src/factors/sms/phone.js';

describe('SMS phone numbers (libphonenumber-js)', () => {
  it.each([
    ['+14155550123', '+14155550123', 'US'],
    ['+1 (415) 555-0123', '+14155550123', 'US'],
    ['+49 151 2345 6789', '+4915123456789', 'DE'],
    ['  +33 6 12 34 56 78 ', '+33612345678', 'FR'],
    ['+44.7400.123456', '+447400123456', 'GB'],
  ])('accepts %j as %s (%s)', (input, e164, country) => {
    const r = checkPhoneNumber(input);
    expect(r).toMatchObject({ ok: true, e164, country });
  });

  it.each([
    ['4155550123', /Add the country code.*\+14155550123/],
    ['0049 151 23456789', /Add the country code/],
    ['+1 415 CALL NOW', /Use digits only/],
    ['', /Enter your mobile number/],
    [undefined, /Enter your mobile number/],
    ['+1 555', /not a valid phone number/],
    ['+999 1234567', /not a valid phone number/],
    ['+1 '.padEnd(40, '5'), /too long/],
  ])('refuses %j: %s', (input, message) => {
    const r = checkPhoneNumber(input);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(message);
  });

  it.each([
    ['+493012345678', /landline/],
    ['+18005550123', /toll-free/],
    ['+442079460123', /landline/],
  ])('refuses %s, which cannot receive text messages', (input, kind) => {
    const r = checkPhoneNumber(input);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(kind);
    expect(!r.ok && r.message).toMatch(/Enter a mobile number/);
  });

  it('masks everything but the country code and the last two digits', () => {
    expect(maskPhoneNumber('+14155550123')).toBe('+1 ••••••••23');
    expect(maskPhoneNumber('+4915123456789')).toBe('+49 •••••••••89');
    const r = checkPhoneNumber('+33 6 12 34 56 78');
    expect(r.ok && r.masked).toBe('+33 •••••••78');
    expect(r.ok && r.masked).not.toMatch(/1234/);
  });
});
