/** EJS rendering with one layout. Templates are compiled once and cached outside development. */
import { resolve } from 'node:path';
import ejs from 'ejs';
import { VIEWS_DIR } from '../paths.js';

export { VIEWS_DIR };

export interface PageModel {
  title: string;
  [key: string]: unknown;
}

export class Views {
  constructor(private readonly cache: boolean) {}

  async render(name: string, model: PageModel): Promise<string> {
    const opts = { cache: this.cache, async: true, root: VIEWS_DIR, views: [VIEWS_DIR] };
    const body = await ejs.renderFile(resolve(VIEWS_DIR, `${name}.ejs`), { ...model }, opts);
    return ejs.renderFile(resolve(VIEWS_DIR, 'layout.ejs'), { ...model, body }, opts);
  }
}
