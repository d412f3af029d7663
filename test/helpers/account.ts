/** Drives the self-service account pages with a FakeBrowser. */
import { generateSync } from 'otplib';
import { FakeBrowser, hiddenField, type Page } from './browser.js';
import { PASSWORD } from './rp.js';

export const testId = (html: string, id: string): string[] =>
  [...html.matchAll(new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`, 'g'))].map((m) => m[1]!.trim());

/** Completes whatever the sign-in pages ask for, using the supplied answers, until leaving /interaction. */
export async function completeSignIn(
  browser: FakeBrowser,
  page: Page,
  answers: { email: string; password?: string; totp?: () => string; backupCode?: string; prefer?: string },
): Promise<Page> {
  for (let i = 0; i < 6; i++) {
    if (!page.url.includes('/interaction/')) return page;
    const login = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)?.[1];
    if (login) {
      page = await browser.follow(login, { form: { email: answers.email, password: answers.password ?? PASSWORD, csrf: hiddenField(page.body, 'csrf') } });
      continue;
    }
    // After a backup code: the "N backup codes left" page's Continue link.
    const onward = page.body.match(/href="([^"]+)" data-testid="backup-codes-continue"/)?.[1];
    if (onward) {
      page = await browser.follow(onward.replace(/&amp;/g, '&'));
      continue;
    }
    // MFA enforcement's grace-period notice (a policy with all_users): "Later".
    const later = page.body.match(/action="(\/interaction\/[^"]+\/mfa-notice\/later)"/)?.[1];
    if (later) {
      page = await browser.follow(later, { form: { csrf: hiddenField(page.body, 'csrf') } });
      continue;
    }
    const action = page.body.match(/action="(\/interaction\/[^"]+\/factor\/(\w+))"/);
    const chooserUid = page.url.match(/\/interaction\/([^/]+)\/factor/)?.[1];
    if (!action && answers.prefer && chooserUid) {
      page = await browser.follow(`/interaction/${chooserUid}/factor/${answers.prefer}`);
      answers = { ...answers, prefer: undefined };
      continue;
    }
    if (!action) return page;
    const uid = action[1]!.split('/')[2];
    if (answers.prefer && action[2] !== answers.prefer) {
      page = await browser.follow(`/interaction/${uid}/factor/${answers.prefer}`);
      answers = { ...answers, prefer: undefined };
      continue;
    }
    const code = action[2] === 'totp' ? answers.totp?.() : action[2] === 'backup_code' ? answers.backupCode : undefined;
    if (!code) return page;
    page = await browser.follow(action[1]!, { form: { code, csrf: hiddenField(page.body, 'csrf') } });
  }
  return page;
}

export async function openAccount(browser: FakeBrowser, answers: Parameters<typeof completeSignIn>[2]): Promise<Page> {
  const page = await browser.follow('/account');
  return completeSignIn(browser, page, answers);
}

export function totpCode(secret: string, nowMs: number): string {
  return generateSync({ secret, epoch: Math.floor(nowMs / 1000) });
}

/** Posts one of the account page's forms by its action suffix. */
export async function postAccountForm(browser: FakeBrowser, account: Page, action: string, extra: Record<string, string> = {}) {
  return browser.follow(action, { form: { csrf: hiddenField(account.body, 'csrf'), ...extra } });
}
