/**
 * A tiny single-page app for browser tests, served from its own local HTTP server (so its origin differs
 * from the IdP's): one page, /spa.html, that loads oidc-client-ts's browser bundle from node_modules and
 * drives a UserManager (code + PKCE, public client). On load it finishes a sign-in (?code / ?error) or a
 * sign-out (?state) and writes the outcome into #status / #error / #result; everything else is exposed as
 * `window.spa` for the test to call.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface SpaConfig {
  authority: string;
  clientId: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
}

export interface SpaServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  /** The page: `${origin}/spa.html` */
  url: string;
  configure(config: SpaConfig): void;
  close(): Promise<void>;
}

const bundlePath = join(dirname(createRequire(import.meta.url).resolve('oidc-client-ts/package.json')), 'dist/browser/oidc-client-ts.min.js');

/** What the page reports about a signed-in user: the tokens, and the ID token's claims decoded. */
export interface SpaUser {
  access_token: string;
  refresh_token: string | null;
  token_type: string;
  id_token_claims: Record<string, unknown>;
}

const APP_JS = String.raw`(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('spa-config').textContent);
  var mgr = new oidc.UserManager({
    authority: cfg.authority,
    client_id: cfg.clientId,
    redirect_uri: cfg.redirectUri,
    post_logout_redirect_uri: cfg.postLogoutRedirectUri,
    response_type: 'code',
    scope: 'openid email offline_access',
    // offline_access (a refresh token) is only granted with prompt=consent; first-party clients skip the screen.
    prompt: 'consent',
    loadUserInfo: false,
    automaticSilentRenew: false,
    monitorSession: false,
  });
  function claimsOf(jwt) {
    var part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '==='.slice((part.length + 3) % 4)));
  }
  function summary(user) {
    return { access_token: user.access_token, refresh_token: user.refresh_token || null, token_type: user.token_type, id_token_claims: claimsOf(user.id_token) };
  }
  function show(id, text) { document.getElementById(id).textContent = text; }
  function fail(err) {
    var message = err && err.message ? err.message : String(err);
    show('error', message);
    return { error: message };
  }
  window.spa = {
    login: function (args) { return mgr.signinRedirect(args); },
    user: function () { return mgr.getUser().then(function (u) { return u ? summary(u) : null; }); },
    userinfo: async function () {
      try {
        var user = await mgr.getUser();
        var meta = await mgr.metadataService.getMetadata();
        var res = await fetch(meta.userinfo_endpoint, { headers: { Authorization: 'Bearer ' + user.access_token } });
        if (!res.ok) throw new Error('userinfo answered ' + res.status);
        return await res.json();
      } catch (err) { return fail(err); }
    },
    refresh: async function () {
      try { return summary(await mgr.signinSilent()); } catch (err) { return fail(err); }
    },
    // With state data the IdP returns ?state=…, which signoutCallback checks on the way back.
    logout: function () { return mgr.signoutRedirect({ state: { from: 'spa' } }); },
  };
  var params = new URLSearchParams(location.search);
  (async function () {
    if (params.has('code') || params.has('error')) {
      var user = await mgr.signinCallback();
      show('result', JSON.stringify(summary(user)));
      show('status', 'signed-in');
    } else if (params.has('state')) {
      await mgr.signoutCallback();
      show('status', 'signed-out');
    } else {
      show('status', 'ready');
    }
  })().catch(fail);
})();
`;

const page = (config: SpaConfig) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test SPA</title></head>
<body>
  <h1>Test SPA</h1>
  <p id="status"></p>
  <p id="error"></p>
  <pre id="result"></pre>
  <script id="spa-config" type="application/json">${JSON.stringify(config).replace(/</g, '\\u003c')}</script>
  <script src="/oidc-client-ts.min.js"></script>
  <script src="/app.js"></script>
</body>
</html>
`;

/** Starts the SPA on 127.0.0.1 on a free port; `configure` it once the client is registered. */
export async function startSpaServer(): Promise<SpaServer> {
  const bundle = readFileSync(bundlePath);
  let config: SpaConfig | undefined;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://spa').pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/spa.html' && config) return send(200, 'text/html; charset=utf-8', page(config));
    if (path === '/oidc-client-ts.min.js') return send(200, 'text/javascript', bundle);
    if (path === '/app.js') return send(200, 'text/javascript', APP_JS);
    return send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}/spa.html`,
    configure(c) {
      config = c;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
