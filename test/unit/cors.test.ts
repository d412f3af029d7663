/** Client-based CORS (issue 14): which origins a browser app may call the token/userinfo/... endpoints from. */
import { describe, expect, it } from 'vitest';
import { allowedOriginProblem, allowedOriginsProblem, isOriginAllowed, originOf } from '../../src/oidc/cors.js';

const dev = { production: false };
const prod = { production: true };

describe('isOriginAllowed', () => {
  const spa = { redirectUris: ['https://app.example.com/callback', 'http://localhost:5173/cb?x=1'], allowedOrigins: ['https://admin.example.com'] };

  it('allows the origins of the registered redirect URIs, whatever their path and query', () => {
    expect(isOriginAllowed('https://app.example.com', spa)).toBe(true);
    expect(isOriginAllowed('http://localhost:5173', spa)).toBe(true);
  });

  it('allows the explicit stepwise_allowed_origins', () => {
    expect(isOriginAllowed('https://admin.example.com', spa)).toBe(true);
    expect(isOriginAllowed('https://admin.example.com', { allowedOrigins: ['https://admin.example.com'] })).toBe(true);
  });

  it('refuses every other origin: other host, scheme, port, a suffix or prefix of an allowed one', () => {
    for (const origin of [
      'https://evil.example.com',
      'http://app.example.com',
      'https://app.example.com:8443',
      'https://app.example.com.evil.test',
      'https://example.com',
      'http://localhost:5174',
      'http://127.0.0.1:5173',
      'https://app.example.com/',
      '',
    ]) {
      expect(isOriginAllowed(origin, spa), origin).toBe(false);
    }
    expect(isOriginAllowed(undefined, spa)).toBe(false);
  });

  it('never matches an opaque origin, even for a client with custom-scheme redirect URIs', () => {
    const native = { redirectUris: ['com.example.app:/cb', 'file:///tmp/x.html'] };
    expect(originOf('com.example.app:/cb')).toBeUndefined();
    expect(isOriginAllowed('null', native)).toBe(false);
    expect(isOriginAllowed('null', { allowedOrigins: ['null'] })).toBe(false);
  });

  it('allows nothing for a client with no redirect URIs and no allowed origins', () => {
    expect(isOriginAllowed('https://app.example.com', {})).toBe(false);
    expect(isOriginAllowed('https://app.example.com', { redirectUris: ['not a url'] })).toBe(false);
  });
});

describe('allowedOriginProblem', () => {
  it('accepts https origins, with or without a port', () => {
    expect(allowedOriginProblem('https://app.example.com', prod)).toBeUndefined();
    expect(allowedOriginProblem('https://app.example.com:8443', prod)).toBeUndefined();
  });

  it('accepts http://localhost and http://127.0.0.1 outside production only', () => {
    for (const o of ['http://localhost', 'http://localhost:5173', 'http://127.0.0.1:8080']) {
      expect(allowedOriginProblem(o, dev), o).toBeUndefined();
      expect(allowedOriginProblem(o, prod), o).toMatch(/not allowed when NODE_ENV=production/);
    }
  });

  it('refuses plain http to any other host', () => {
    expect(allowedOriginProblem('http://app.example.com', dev)).toMatch(/must use https/);
    expect(allowedOriginProblem('http://192.168.1.2:3000', dev)).toMatch(/must use https/);
  });

  it('refuses URLs that are not exactly an origin, naming the origin meant', () => {
    expect(allowedOriginProblem('https://app.example.com/callback', dev)).toMatch(/not an origin.*did you mean https:\/\/app\.example\.com\?/);
    expect(allowedOriginProblem('https://app.example.com/', dev)).toMatch(/not an origin/);
    expect(allowedOriginProblem('https://app.example.com?x=1', dev)).toMatch(/not an origin/);
    expect(allowedOriginProblem('https://app.example.com#x', dev)).toMatch(/not an origin/);
    expect(allowedOriginProblem('https://user:pw@app.example.com', dev)).toMatch(/not an origin/);
    // Non-canonical spellings: the browser sends the canonical one, so these would never match.
    expect(allowedOriginProblem('https://APP.example.com', dev)).toMatch(/did you mean https:\/\/app\.example\.com\?/);
    expect(allowedOriginProblem('https://app.example.com:443', dev)).toMatch(/did you mean https:\/\/app\.example\.com\?/);
  });

  it('refuses non-URLs, other schemes and non-strings', () => {
    expect(allowedOriginProblem('app.example.com', dev)).toMatch(/not an origin/);
    expect(allowedOriginProblem('*', dev)).toMatch(/not an origin/);
    expect(allowedOriginProblem('null', dev)).toMatch(/not an origin/);
    expect(allowedOriginProblem('com.example.app:/cb', dev)).toMatch(/not an http\(s\) origin/);
    expect(allowedOriginProblem('ftp://files.example.com', dev)).toMatch(/not an http\(s\) origin/);
    expect(allowedOriginProblem('', dev)).toMatch(/non-empty string/);
    expect(allowedOriginProblem(42, dev)).toMatch(/non-empty string/);
  });
});

describe('allowedOriginsProblem (the client metadata validator)', () => {
  it('accepts an absent value or an array of origins', () => {
    expect(allowedOriginsProblem(undefined, prod)).toBeUndefined();
    expect(allowedOriginsProblem([], prod)).toBeUndefined();
    expect(allowedOriginsProblem(['https://a.example', 'https://b.example:444'], prod)).toBeUndefined();
  });

  it('refuses a non-array and reports the first bad entry', () => {
    expect(allowedOriginsProblem('https://a.example', dev)).toMatch(/array/);
    expect(allowedOriginsProblem(['https://a.example', 'https://b.example/path'], dev)).toMatch(/"https:\/\/b\.example\/path" is not an origin/);
  });
});
