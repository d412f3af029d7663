import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import Koa from 'koa';
import { staticAssets } from '../../src/http/static.js';

describe('static assets', () => {
  it('serves the SimpleWebAuthn bundle and our assets, nothing else', async () => {
    const app = new Koa();
    app.use(staticAssets());
    const server = app.listen(0);
    const port = (server.address() as { port: number }).port;
    try {
      for (const path of ['/assets/simplewebauthn-browser.js', '/assets/stepwise.js', '/assets/stepwise.css']) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        expect(res.status, path).toBe(200);
        expect((await res.text()).length).toBeGreaterThan(10);
      }
      expect((await fetch(`http://127.0.0.1:${port}/assets/../package.json`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/assets/other.js`)).status).toBe(404);
    } finally {
      server.close();
    }
    expect(existsSync('public/stepwise.js')).toBe(true);
  });
});
