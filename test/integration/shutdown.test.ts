/**
 * Issue 14: graceful shutdown. close() lets an in-flight request finish, does not hang on idle keep-alive
 * connections, and cuts a connection that never completes its request once the drain time is over.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { sqliteStore } from '../helpers/stores.js';
import { startTestServer } from '../helpers/server.js';

describe('graceful shutdown', () => {
  it('an in-flight request finishes; a stuck connection is cut after the drain time', async () => {
    const srv = await startTestServer(sqliteStore);
    const port = Number(new URL(srv.url).port);
    // A keep-alive connection that sent half a request and never finishes it.
    const stuck = connect({ host: '127.0.0.1', port });
    await new Promise((r) => stuck.once('connect', r));
    stuck.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const stuckClosed = new Promise((r) => stuck.once('close', r));
    // Close once a real request is being handled.
    const received = new Promise((r) => srv.server.once('request', r));
    const inflight = fetch(`${srv.url}/.well-known/openid-configuration`);
    await received;
    const t0 = Date.now();
    const closed = srv.close({ drainMs: 1500 });
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { issuer: string }).issuer).toBe(srv.url);
    await closed;
    await stuckClosed;
    // The stuck connection held the drain until its deadline, and no longer.
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(1400);
    expect(waited).toBeLessThan(5000);
    // New connections are refused.
    await expect(fetch(`${srv.url}/healthz`)).rejects.toThrow();
  }, 20_000);
});
