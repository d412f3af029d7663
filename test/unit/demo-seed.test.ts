/** The published demo user/client are seeded only on the embedded SQLite store behind a loopback issuer. */
import { describe, expect, it } from 'vitest';
import { demoAllowed, demoRoutesAllowed, isLoopbackIssuer } from '../../src/seed.js';

const sqlite = { client: 'sqlite', filename: './data/stepwise.sqlite' } as const;
const pg = { client: 'pg', connection: 'postgres://db/x' } as const;

describe('demoAllowed', () => {
  it('loopback issuers: localhost, 127.0.0.0/8, [::1]', () => {
    for (const issuer of ['http://localhost:3000', 'http://LOCALHOST', 'https://localhost', 'http://127.0.0.1:3000', 'http://127.8.9.10', 'http://[::1]:3000']) {
      expect(isLoopbackIssuer(issuer), issuer).toBe(true);
    }
    for (const issuer of ['https://id.example.com', 'http://10.0.0.1:3000', 'http://0.0.0.0:3000', 'http://localhost.example.com', 'http://127.0.0.1.nip.io', 'http://[::2]', 'not a url']) {
      expect(isLoopbackIssuer(issuer), issuer).toBe(false);
    }
  });

  it('needs STEPWISE_DEMO, the embedded SQLite store and a loopback issuer', () => {
    const base = { demo: true, database: sqlite, issuer: 'http://localhost:3000' };
    expect(demoAllowed(base)).toBe(true);
    expect(demoAllowed({ ...base, demo: false })).toBe(false);
    expect(demoAllowed({ ...base, database: pg })).toBe(false);
    expect(demoAllowed({ ...base, issuer: 'https://id.example.com' })).toBe(false);
    expect(demoAllowed({ ...base, issuer: 'http://192.168.1.20:3000' })).toBe(false);
  });

  it('the /demo routes need STEPWISE_DEMO and a loopback issuer', () => {
    expect(demoRoutesAllowed({ demo: true, issuer: 'http://127.0.0.1:3000' })).toBe(true);
    expect(demoRoutesAllowed({ demo: true, issuer: 'https://id.example.com' })).toBe(false);
    expect(demoRoutesAllowed({ demo: false, issuer: 'http://localhost' })).toBe(false);
  });
});
