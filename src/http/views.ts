/**
 * EJS rendering with one layout. Templates are compiled once and cached outside development.
 * Every template gets, besides its model: `t` and `lang` (the request's language, src/i18n/context.ts),
 * `languages` and `currentUrl` (the switcher), and `theme` (product name, logo, favicon). A theme folder
 * may override any template per file (<theme>/views/<name>.ejs); the rest come from the shipped views.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import ejs from 'ejs';
import { VIEWS_DIR } from '../paths.js';
import { loadTheme, type Theme } from '../config/theme.js';
import { requestI18n } from '../i18n/context.js';
import { defaultI18n } from '../i18n/index.js';
import { allowClientImage } from './page-csp.js';

export { VIEWS_DIR };

export interface PageModel {
  title: string;
  [key: string]: unknown;
}

export class Views {
  private readonly files = new Map<string, string>();

  constructor(
    private readonly cache: boolean,
    readonly theme: Theme = loadTheme(undefined),
  ) {}

  /** The theme's override of a template when it has one, else the shipped template. */
  private fileOf(name: string): string {
    let file = this.files.get(name);
    if (!file) {
      const override = this.theme.viewsDir ? resolve(this.theme.viewsDir, `${name}.ejs`) : undefined;
      file = override && override.startsWith(this.theme.viewsDir!) && existsSync(override) ? override : resolve(VIEWS_DIR, `${name}.ejs`);
      if (this.cache) this.files.set(name, file);
    }
    return file;
  }

  async render(name: string, model: PageModel): Promise<string> {
    const views = this.theme.viewsDir ? [this.theme.viewsDir, VIEWS_DIR] : [VIEWS_DIR];
    const opts = { cache: this.cache, async: true, root: VIEWS_DIR, views };
    const { lang, t, i18n = defaultI18n(), url } = await requestI18n();
    const languages = i18n.supported.map((code) => ({ code, name: i18n.languageName(code), current: code === lang }));
    const locals = {
      ...model,
      title: i18n.text(lang, model.title),
      t,
      /** A sentence code passed in English (a factor's status message), in the page's language when translated. */
      tx: (english: unknown) => (typeof english === 'string' ? i18n.text(lang, english) : ''),
      lang,
      languages,
      currentUrl: url,
      theme: this.theme,
    };
    const client = model.client as { logoUri?: string } | undefined;
    if (client?.logoUri) allowClientImage(client.logoUri);
    const body = await ejs.renderFile(this.fileOf(name), locals, opts);
    return ejs.renderFile(this.fileOf('layout'), { ...locals, body }, opts);
  }
}
