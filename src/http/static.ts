/** Serves a fixed list of static assets (our CSS/JS and the SimpleWebAuthn browser bundle); nothing else. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { PUBLIC_DIR } from '../paths.js';
import type { Context, Next } from 'koa';

const publicDir = PUBLIC_DIR;
const require = createRequire(import.meta.url);

const ASSETS: Record<string, { file: () => string; type: string }> = {
  '/assets/stepwise.css': { file: () => resolve(publicDir, 'stepwise.css'), type: 'text/css' },
  '/assets/admin.css': { file: () => resolve(publicDir, 'admin.css'), type: 'text/css' },
  '/assets/stepwise.js': { file: () => resolve(publicDir, 'stepwise.js'), type: 'application/javascript' },
  '/assets/comforts.js': { file: () => resolve(publicDir, 'comforts.js'), type: 'application/javascript' },
  '/assets/simplewebauthn-browser.js': {
    // The package does not export ./package.json; resolve its main entry and walk to the UMD bundle.
    file: () => resolve(dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js'),
    type: 'application/javascript',
  },
};

export function staticAssets() {
  const cache = new Map<string, Buffer>();
  return async function serveAsset(ctx: Context, next: Next) {
    const asset = ctx.method === 'GET' ? ASSETS[ctx.path] : undefined;
    if (!asset) return next();
    let body = cache.get(ctx.path);
    if (!body) {
      body = await readFile(asset.file());
      cache.set(ctx.path, body);
    }
    ctx.type = asset.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  };
}
