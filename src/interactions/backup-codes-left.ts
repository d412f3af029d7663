/**
 * After a backup code is used at sign-in, the user is told how many remain before continuing (NIST 800-63B-4
 * §3.1.2: look-up secrets run out; a user with none left is locked out of that path). A plain page with a
 * Continue link to where the sign-in goes next; the count is the same one /account shows.
 */
import type { Context } from 'koa';
import type { Views } from '../http/views.js';
import { BACKUP_CODES_LOW } from '../factors/service.js';

export async function renderBackupCodesLeft(ctx: Context, views: Views, remaining: number, next: string): Promise<void> {
  ctx.status = 200;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = await views.render('backup-codes-left', { title: 'Backup code used', remaining, low: remaining <= BACKUP_CODES_LOW, next });
}
