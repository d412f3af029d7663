/** Client address behind proxies (TRUST_PROXY): only entries added by trusted proxies count. */
import { describe, expect, it } from 'vitest';
import { clientIp, clientIpResolver, normaliseIp, parseForwardedEntry, parseProxyCidr, resolveClientIp } from '../../src/security/client-ip.js';

describe('resolveClientIp', () => {
  it('TRUST_PROXY=false: the socket peer, whatever the header says', () => {
    expect(resolveClientIp(false, '203.0.113.9', '1.1.1.1')).toBe('203.0.113.9');
    expect(resolveClientIp(false, '::ffff:203.0.113.9', undefined)).toBe('203.0.113.9');
  });

  it('hops=1: the right-most entry; client-chosen left-most entries are ignored', () => {
    const trust = { hops: 1 };
    expect(resolveClientIp(trust, '10.0.0.2', '198.51.100.7')).toBe('198.51.100.7');
    expect(resolveClientIp(trust, '10.0.0.2', '6.6.6.6, 198.51.100.7')).toBe('198.51.100.7');
    expect(resolveClientIp(trust, '10.0.0.2', '1.2.3.4, 5.6.7.8 , 198.51.100.7')).toBe('198.51.100.7');
    // No header: the peer itself (a request that did not come through the proxy).
    expect(resolveClientIp(trust, '10.0.0.2', undefined)).toBe('10.0.0.2');
  });

  it('hops=N: the N-th entry from the right; a shorter header yields its furthest entry', () => {
    const header = '6.6.6.6, 198.51.100.7, 10.0.0.5';
    expect(resolveClientIp({ hops: 2 }, '10.0.0.2', header)).toBe('198.51.100.7');
    expect(resolveClientIp({ hops: 3 }, '10.0.0.2', header)).toBe('6.6.6.6');
    expect(resolveClientIp({ hops: 5 }, '10.0.0.2', '198.51.100.7, 10.0.0.5')).toBe('198.51.100.7');
  });

  it('CIDRs: walk from the right past listed proxies; the first unlisted address is the client', () => {
    const trust = { cidrs: ['10.0.0.0/8', '::1/128', 'fd00::/8'] };
    expect(resolveClientIp(trust, '10.0.0.2', '6.6.6.6, 198.51.100.7, 10.1.2.3')).toBe('198.51.100.7');
    expect(resolveClientIp(trust, '::1', '198.51.100.7')).toBe('198.51.100.7');
    expect(resolveClientIp(trust, 'fd00::1', '2001:db8::5, fd12::9')).toBe('2001:db8::5');
    // Every entry is a proxy: the furthest one.
    expect(resolveClientIp(trust, '10.0.0.2', '10.9.9.9, 10.0.0.3')).toBe('10.9.9.9');
  });

  it('CIDRs: an untrusted peer is the client, its X-Forwarded-For ignored', () => {
    const trust = { cidrs: ['10.0.0.0/8'] };
    expect(resolveClientIp(trust, '203.0.113.9', '10.0.0.1, 1.1.1.1')).toBe('203.0.113.9');
    expect(clientIpResolver(trust).trustsPeer('203.0.113.9')).toBe(false);
    expect(clientIpResolver(trust).trustsPeer('::ffff:10.0.0.7')).toBe(true);
    expect(clientIpResolver({ hops: 1 }).trustsPeer('203.0.113.9')).toBe(true);
    expect(clientIpResolver(false).trustsPeer('10.0.0.7')).toBe(false);
  });

  it('normalises IPv4-mapped IPv6 (peer and entries) and matches it against IPv4 CIDRs', () => {
    const trust = { cidrs: ['10.0.0.0/8'] };
    expect(resolveClientIp(trust, '::ffff:10.0.0.2', '::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(resolveClientIp({ hops: 1 }, '::ffff:10.0.0.2', '2001:DB8::A')).toBe('2001:db8::a');
  });

  it('garbage entries stop the walk at the last trusted address', () => {
    expect(resolveClientIp({ hops: 1 }, '10.0.0.2', 'not-an-ip')).toBe('10.0.0.2');
    expect(resolveClientIp({ hops: 2 }, '10.0.0.2', 'evil, 198.51.100.7')).toBe('198.51.100.7');
    expect(resolveClientIp({ hops: 1 }, '10.0.0.2', '')).toBe('10.0.0.2');
    expect(resolveClientIp({ hops: 1 }, '10.0.0.2', ' , ')).toBe('10.0.0.2');
    expect(resolveClientIp({ cidrs: ['10.0.0.0/8'] }, '10.0.0.2', '<script>, 10.0.0.3')).toBe('10.0.0.3');
    expect(resolveClientIp({ hops: 1 }, '10.0.0.2', '1.2.3.4, 999.1.1.1')).toBe('10.0.0.2');
  });

  it('accepts the forms proxies write: ports and bracketed IPv6', () => {
    expect(parseForwardedEntry('198.51.100.7:5678')).toBe('198.51.100.7');
    expect(parseForwardedEntry('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(parseForwardedEntry('[2001:db8::1]')).toBe('2001:db8::1');
    expect(parseForwardedEntry('2001:db8::1')).toBe('2001:db8::1');
    expect(parseForwardedEntry('unknown')).toBeNull();
    expect(parseForwardedEntry('1.2.3')).toBeNull();
    expect(normaliseIp('::FFFF:1.2.3.4')).toBe('1.2.3.4');
  });

  it('parses proxy CIDRs strictly', () => {
    expect(parseProxyCidr('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(parseProxyCidr('10.0.0.1')).toBe('10.0.0.1/32');
    expect(parseProxyCidr('::1')).toBe('::1/128');
    expect(parseProxyCidr('FD00::/8')).toBe('fd00::/8');
    expect(parseProxyCidr('10.0.0.0/33')).toBeNull();
    expect(parseProxyCidr('fd00::/129')).toBeNull();
    expect(parseProxyCidr('10.0.0/8')).toBeNull();
    expect(parseProxyCidr('proxy.internal')).toBeNull();
    expect(parseProxyCidr('10.0.0.0/8/9')).toBeNull();
  });
});

describe('clientIp middleware', () => {
  const run = async (trust: Parameters<typeof clientIp>[0], peer: string, headers: Record<string, string>) => {
    const req = { socket: { remoteAddress: peer }, headers: { ...headers } };
    const ctx = { req, request: { ip: '' }, get: (h: string) => req.headers[h as keyof typeof req.headers] ?? '' };
    let called = false;
    await clientIp(trust)(ctx as never, async () => {
      called = true;
    });
    return { ip: ctx.request.ip, headers: req.headers, called };
  };

  it('sets ctx.request.ip and keeps forwarding headers from trusted peers', async () => {
    const r = await run({ hops: 1 }, '10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7', 'x-forwarded-proto': 'https' });
    expect(r).toMatchObject({ ip: '198.51.100.7', called: true });
    expect(r.headers['x-forwarded-proto']).toBe('https');
  });

  it('drops X-Forwarded-* from an untrusted peer, so Koa cannot believe X-Forwarded-Proto/Host', async () => {
    const r = await run({ cidrs: ['10.0.0.0/8'] }, '203.0.113.9', {
      'x-forwarded-for': '1.1.1.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      host: 'id.example',
    });
    expect(r.ip).toBe('203.0.113.9');
    expect(r.headers).toEqual({ host: 'id.example' });
  });
});
