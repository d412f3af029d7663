/**
 * The CLI's admin verbs (`stepwise users …`, `clients …`, `approvals …`, `keys list`, `audit search|export`):
 * argument parsing only — every verb calls the same service function as the admin API and console. The
 * acting admin is `--admin NAME`, else `cli` (so approving a CLI request needs a different --admin).
 * Users are named by id or email. Returns `{ handled: false }` for verbs it does not own.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';
import type { Actor } from './types.js';
import { createServiceClient } from './service.js';
import {
  endUserSessions,
  findUserByEmail,
  forgetUserDevices,
  getUser,
  listUserDevices,
  listUserFactors,
  listUserSessions,
  removeUserFactors,
  resetUserPassword,
  searchUsers,
  setUserDisabled,
} from './users.js';
import { deleteClient, getClient, listClients, rotateClientSecret } from './clients.js';
import { listKeys } from './keys.js';
import { exportAuditEvents, queryAuditEvents, type AuditFilter } from './audit-query.js';
import { approveAction, listApprovals, rejectAction, type PendingStatus } from './approvals.js';

export const ADMIN_USAGE = `  stepwise users list [--q TEXT] [--disabled|--enabled] [--limit N] [--cursor C]
  stepwise users show|factors|sessions|devices USER              (USER: id or email)
  stepwise users disable|enable USER [--admin NAME]
  stepwise users reset-password USER [--forced] [--admin NAME]
                          (mails the user a reset link; --forced: only void the password)
  stepwise users remove-factor USER (FACTOR_ID | --all) [--admin NAME]   (four eyes: remove_user_factors)
  stepwise users end-sessions USER [--session ID] [--admin NAME]
  stepwise users forget-devices USER [--device ID] [--admin NAME]
  stepwise clients create --service --scope stepwise:admin [--scope S...] [--name N]   (client_credentials; prints the secret once)
  stepwise clients list [--q TEXT] [--limit N] [--cursor C] | clients show CLIENT_ID
  stepwise clients rotate-secret CLIENT_ID [--overlap-seconds N] [--admin NAME]   (the old secret works N more seconds)
  stepwise clients delete CLIENT_ID [--admin NAME]
  stepwise approvals list [--status pending|executed|failed|rejected|expired]
  stepwise approvals approve|reject ID --admin NAME                (a different admin than the requester)
  stepwise keys list
  stepwise audit search [--user ID] [--client ID] [--type T|prefix*] [--outcome success|failure] [--from T] [--to T] [--limit N] [--cursor C]
  stepwise audit export [same filters]                  (NDJSON, oldest first; T: epoch ms or ISO date)`;

export interface AdminCliDeps {
  withContainer<T>(fn: (c: Container) => Promise<T>): Promise<T>;
  readStdin(): Promise<string>;
  /** Raw output (NDJSON export). */
  write(text: string): void;
  usage(message: string): Error;
}

export type AdminCliResult = { handled: false } | { handled: true; output?: unknown };

const ADMIN_OPTION = { admin: { type: 'string' } } as const;

function actorOf(values: { admin?: string | boolean | (string | boolean)[] }): Actor {
  const name = typeof values.admin === 'string' ? values.admin.trim() : '';
  return { id: name || 'cli' };
}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new AppError('invalid_form', `--${name} must be a whole number`, name);
  return Number(value);
}

function timeOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d{1,15}$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new AppError('invalid_form', `--${name} must be epoch milliseconds or an ISO date`, name);
  return ms;
}

/** A user named by id or email. */
async function resolveUser(c: Container, ref: string | undefined, deps: AdminCliDeps): Promise<string> {
  if (!ref) throw deps.usage('USER (an id or an email) is required');
  return ref.includes('@') ? (await findUserByEmail(c, ref)).id : (await getUser(c, ref)).id;
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

export async function runAdminCommand(noun: string | undefined, verb: string | undefined, args: string[], deps: AdminCliDeps): Promise<AdminCliResult> {
  const run = async (fn: (c: Container) => Promise<unknown>): Promise<AdminCliResult> => ({ handled: true, output: await deps.withContainer(fn) });

  if (noun === 'users') {
    switch (verb) {
      case 'list': {
        const { values } = parse(args, { q: { type: 'string' }, disabled: { type: 'boolean' }, enabled: { type: 'boolean' }, limit: { type: 'string' }, cursor: { type: 'string' } });
        if (values.disabled && values.enabled) throw deps.usage('--disabled and --enabled exclude each other');
        const disabled = values.disabled ? true : values.enabled ? false : undefined;
        return run((c) => searchUsers(c, { q: values.q, disabled, limit: intOption(values.limit, 'limit'), cursor: values.cursor }));
      }
      case 'show':
      case 'factors':
      case 'sessions':
      case 'devices': {
        const { positionals } = parse(args, {});
        return run(async (c) => {
          const id = await resolveUser(c, positionals[0], deps);
          if (verb === 'show') return getUser(c, id);
          if (verb === 'factors') return { user_id: id, factors: await listUserFactors(c, id) };
          if (verb === 'sessions') return { user_id: id, sessions: await listUserSessions(c, id) };
          return { user_id: id, devices: await listUserDevices(c, id) };
        });
      }
      case 'disable':
      case 'enable': {
        const { values, positionals } = parse(args, ADMIN_OPTION);
        return run(async (c) => setUserDisabled(c, actorOf(values), await resolveUser(c, positionals[0], deps), verb === 'disable'));
      }
      case 'reset-password': {
        const { values, positionals } = parse(args, { ...ADMIN_OPTION, forced: { type: 'boolean' } });
        return run(async (c) => resetUserPassword(c, actorOf(values), await resolveUser(c, positionals[0], deps), { mode: values.forced ? 'forced' : 'email' }));
      }
      case 'remove-factor': {
        const { values, positionals } = parse(args, { ...ADMIN_OPTION, all: { type: 'boolean' } });
        const factorId = positionals[1];
        if (Boolean(factorId) === Boolean(values.all)) throw deps.usage('give a FACTOR_ID or --all (one of the two)');
        return run(async (c) => removeUserFactors(c, actorOf(values), await resolveUser(c, positionals[0], deps), factorId ? { factorId } : {}));
      }
      case 'end-sessions': {
        const { values, positionals } = parse(args, { ...ADMIN_OPTION, session: { type: 'string' } });
        return run(async (c) => endUserSessions(c, actorOf(values), await resolveUser(c, positionals[0], deps), values.session ? { sessionId: values.session } : {}));
      }
      case 'forget-devices': {
        const { values, positionals } = parse(args, { ...ADMIN_OPTION, device: { type: 'string' } });
        return run(async (c) => forgetUserDevices(c, actorOf(values), await resolveUser(c, positionals[0], deps), values.device ? { deviceId: values.device } : {}));
      }
      default:
        return { handled: false };
    }
  }

  if (noun === 'clients') {
    if (verb === 'create' && args.includes('--service')) {
      const { values } = parse(args, { ...ADMIN_OPTION, service: { type: 'boolean' }, scope: { type: 'string', multiple: true }, name: { type: 'string' } });
      if (!values.scope?.length) throw deps.usage('--service needs at least one --scope (e.g. --scope stepwise:admin)');
      const scopes = values.scope.flatMap((s) => s.split(/[ ,]+/)).filter(Boolean);
      return run((c) => createServiceClient(c, { scopes, name: values.name, actor: actorOf(values) }));
    }
    if (verb === 'list') {
      const { values } = parse(args, { q: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } });
      return run((c) => listClients(c, { q: values.q, limit: intOption(values.limit, 'limit'), cursor: values.cursor }));
    }
    if (verb === 'show' || verb === 'delete' || verb === 'rotate-secret') {
      const { values, positionals } = parse(args, { ...ADMIN_OPTION, 'overlap-seconds': { type: 'string' } });
      const clientId = positionals[0];
      if (!clientId) throw deps.usage('CLIENT_ID is required');
      if (verb === 'show') return run((c) => getClient(c, clientId));
      if (verb === 'delete') return run((c) => deleteClient(c, actorOf(values), clientId));
      return run((c) => rotateClientSecret(c, actorOf(values), clientId, { overlapSeconds: intOption(values['overlap-seconds'], 'overlap-seconds') }));
    }
    return { handled: false };
  }

  if (noun === 'approvals') {
    if (verb === 'list') {
      const { values } = parse(args, { status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } });
      const statuses = ['pending', 'approved', 'executed', 'failed', 'rejected', 'expired'];
      if (values.status !== undefined && !statuses.includes(values.status)) throw new AppError('invalid_form', `--status must be one of ${statuses.join('|')}`, 'status');
      return run((c) => listApprovals(c, { status: values.status as PendingStatus | undefined, limit: intOption(values.limit, 'limit'), cursor: values.cursor }));
    }
    if (verb === 'approve' || verb === 'reject') {
      const { values, positionals } = parse(args, ADMIN_OPTION);
      if (positionals.length !== 1) throw deps.usage('approvals approve|reject takes one ID');
      return run((c) => (verb === 'approve' ? approveAction : rejectAction)(c, actorOf(values), positionals[0]!));
    }
    throw deps.usage(verb ? `unknown command: approvals ${verb}` : 'approvals needs a verb: list, approve or reject');
  }

  if (noun === 'keys' && verb === 'list') {
    parse(args, {});
    return run((c) => listKeys(c));
  }

  if (noun === 'audit' && (verb === 'search' || verb === 'export')) {
    const { values } = parse(args, {
      user: { type: 'string' },
      client: { type: 'string' },
      type: { type: 'string' },
      outcome: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    });
    if (values.outcome !== undefined && values.outcome !== 'success' && values.outcome !== 'failure') throw new AppError('invalid_form', '--outcome must be success or failure', 'outcome');
    const filter: AuditFilter = {
      ...(values.user ? { userId: values.user } : {}),
      ...(values.client ? { clientId: values.client } : {}),
      ...(values.type ? { type: values.type } : {}),
      ...(values.outcome ? { outcome: values.outcome as 'success' | 'failure' } : {}),
      ...(values.from !== undefined ? { from: timeOption(values.from, 'from') } : {}),
      ...(values.to !== undefined ? { to: timeOption(values.to, 'to') } : {}),
    };
    if (verb === 'search') return run((c) => queryAuditEvents(c, { ...filter, limit: intOption(values.limit, 'limit'), cursor: values.cursor }));
    await deps.withContainer(async (c) => {
      for await (const line of exportAuditEvents(c, filter)) deps.write(line);
    });
    return { handled: true };
  }

  return { handled: false };
}
