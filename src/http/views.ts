/** EJS rendering with one layout. Templates are compiled once and cached outside development. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';

const here = dirname(fileURLToPath(import.meta.url));
export const VIEWS_DIR = resolve(here, '../../views');

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
