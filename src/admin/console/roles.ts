/**
 * The admin console role (users.is_admin), granted and revoked from the CLI only — the console cannot make
 * admins, so a compromised admin session cannot entrench itself. Every change is audited.
 */
import type { Db } from '../../store/db.js';
import { AppError, guardStore } from '../../errors/index.js';
import { auditAdmin, type Actor, type AdminContext } from '../types.js';

export async function isAdmin(db: Db, userId: string): Promise<boolean> {
  const row = await guardStore(() => db('users').where({ id: userId }).first('is_admin'));
  return Boolean(row?.is_admin);
}

/** Sets or clears the role for the user with this email; returns the result (unchanged when already so). */
export async function setAdminRole(deps: AdminContext, email: string, admin: boolean, actor: Actor = { id: 'cli' }) {
  const user = await deps.users.findByEmail(email);
  if (!user) throw new AppError('not_found', `no user ${email}`);
  if (admin && user.serviceAccount) throw new AppError('invalid_form', 'a service account cannot be an admin: it can never sign in with two factors', 'email');
  const changed = (await isAdmin(deps.db, user.id)) !== admin;
  if (changed) {
    await guardStore(() => deps.db('users').where({ id: user.id }).update({ is_admin: admin, updated_at: Date.now() }));
    await auditAdmin(deps, actor, { type: admin ? 'admin.role.granted' : 'admin.role.revoked', userId: user.id });
  }
  return { id: user.id, email: user.email, admin, changed };
}
