/**
 * `stepwise recovery start|list|cancel` (JSON out). The logic is src/recovery/service.ts, shared with the
 * admin API; this only parses arguments. Without --admin the recovery is recorded as started by
 * `cli:<operating-system user>`.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { cancelRecovery, listRecoveries } from './service.js';
import { startUserRecovery } from '../admin/recovery.js';
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';

export const RECOVERY_USAGE = `  stepwise recovery start --email E --reason R --evidence REF [--admin NAME]
                          (pending for the policy's recovery_timeout; the user is notified and can cancel)
  stepwise recovery list [--email E] [--status pending|effective|used|completed|cancelled|expired]
  stepwise recovery cancel ID [--admin NAME]`;

function cliAdmin(given: string | undefined): string {
  if (given !== undefined) return given;
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** Runs one recovery verb; throws `usage(message)` for bad arguments, AppError for refused operations. */
export async function runRecoveryCommand(c: Container, verb: string | undefined, args: string[], usage: (message: string) => Error): Promise<unknown> {
  if (verb === 'start') {
    const { values } = parseArgs({
      args,
      options: { email: { type: 'string' }, reason: { type: 'string' }, evidence: { type: 'string' }, admin: { type: 'string' } },
      strict: true,
    });
    for (const flag of ['email', 'reason', 'evidence'] as const) if (values[flag] === undefined) throw usage(`--${flag} is required`);
    // Through the admin service, so the policy's four eyes (`admin.second_approval: [start_recovery]`) holds
    // on the CLI as on the API and console: the result is then a pending action for a second admin.
    const user = await c.users.findByEmail(values.email!);
    if (!user) throw new AppError('not_found', 'No user with that email.');
    const result = await startUserRecovery(c, { id: cliAdmin(values.admin) }, user.id, { reason: values.reason!, evidence: values.evidence! });
    return result.status === 'applied' ? result.result : result;
  }
  if (verb === 'list') {
    const { values } = parseArgs({ args, options: { email: { type: 'string' }, status: { type: 'string' } }, strict: true });
    return { recoveries: await listRecoveries(c, { email: values.email, status: values.status }) };
  }
  if (verb === 'cancel') {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { admin: { type: 'string' } }, strict: true });
    if (positionals.length !== 1) throw usage(positionals.length ? 'recovery cancel takes one ID' : 'ID is required');
    return cancelRecovery(c, { id: positionals[0]!, by: cliAdmin(values.admin), via: 'admin' });
  }
  throw usage(verb ? `unknown command: recovery ${verb}` : 'recovery needs a verb: start, list or cancel');
}

