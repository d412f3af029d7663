/** Locates the package root (where package.json lives) from src/ under vitest and from dist/src/ when built. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(resolve(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${start}`);
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const VIEWS_DIR = resolve(PROJECT_ROOT, 'views');
export const PUBLIC_DIR = resolve(PROJECT_ROOT, 'public');
