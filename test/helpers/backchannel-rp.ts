/** A local relying party's back-channel logout endpoint: records every logout token POSTed to it. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface BackchannelReceiver {
  uri: string;
  received: Array<{ contentType: string | undefined; body: URLSearchParams }>;
  /** Verifies every logout token received so far against the issuer's JWKS (audience = clientId). */
  verifiedTokens(issuer: string, clientId: string): Promise<JWTPayload[]>;
  close(): Promise<void>;
}

export async function startBackchannelReceiver(): Promise<BackchannelReceiver> {
  const received: BackchannelReceiver['received'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'], body: new URLSearchParams(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`,
    received,
    async verifiedTokens(issuer, clientId) {
      const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
      return Promise.all(
        received.map(async (r) => (await jwtVerify(r.body.get('logout_token')!, jwks, { issuer, audience: clientId, typ: 'logout+jwt' })).payload),
      );
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
