#!/usr/bin/env node
// The `stepwise` command. Built by `npm ci` (prepare → tsc) into dist/.
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('stepwise: not built yet; run `npm run build` (npm ci does it for you)');
    process.exit(1);
  }
  throw err;
});
