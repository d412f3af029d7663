/** Every TypeScript snippet in docs/relying-parties.md is quoted from code the suite runs. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
const sources = ['src/demo/routes.ts', 'test/helpers/rp.ts', 'src/rs/index.ts'].map((f) => squash(readFileSync(f, 'utf8'))).join('\n');

describe('docs/relying-parties.md', () => {
  const doc = readFileSync('docs/relying-parties.md', 'utf8');
  const snippets = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  it('has snippets', () => expect(snippets.length).toBeGreaterThanOrEqual(4));
  it.each(snippets.map((s, i) => [i, s] as const))('snippet %i appears verbatim in the code', (_i, snippet) => {
    expect(sources).toContain(squash(snippet));
  });
});
