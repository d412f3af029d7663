/** `stepwise` entry point: runs a command, maps errors to one stderr line and an exit code. */
import { run, UsageError, USAGE } from './index.js';
import { ConfigError } from '../config/index.js';
import { AppError } from '../errors/index.js';

run(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`stepwise: ${err.message}\n${USAGE}`);
    process.exit(64);
  }
  if (err instanceof ConfigError) console.error(`stepwise: configuration error: ${err.message}`);
  else if (err instanceof AppError) console.error(`stepwise: ${err.code}: ${err.publicMessage}`);
  else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) console.error(`stepwise: ${(err as Error).message}\n${USAGE}`);
  else console.error(`stepwise: ${(err as Error).message}`);
  // An error may name its own exit code (e.g. 2 for an invalid candidate policy file).
  const code = (err as { exitCode?: unknown }).exitCode;
  process.exit(typeof code === 'number' ? code : 1);
});
