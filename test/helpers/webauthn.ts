/** Reads the WebAuthn data-* attributes the hosted pages render for public/stepwise.js (FakeBrowser tests). */

/** Undoes EJS's `<%= %>` escaping (& < > " '). */
export function htmlUnescape(s: string): string {
  return s
    .replace(/&#34;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The attributes of the element with `data-testid="<testId>"` (values unescaped). */
export function dataAttrs(html: string, testId: string): Record<string, string> {
  const tag = html.match(new RegExp(`<[a-z]+[^>]*\\bdata-testid="${testId}"[^>]*>`))?.[0];
  if (!tag) throw new Error(`no element with data-testid="${testId}" in page:\n${html.slice(0, 600)}`);
  const attrs: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w-]+)=(?:"([^"]*)"|'([^']*)')/g)) attrs[m[1]!] = htmlUnescape(m[2] ?? m[3] ?? '');
  return attrs;
}

/** The element's data-options, parsed (WebAuthn options JSON rendered into the page). */
export function dataOptions<T>(html: string, testId: string): T {
  const raw = dataAttrs(html, testId)['data-options'];
  if (!raw) throw new Error(`data-testid="${testId}" has no data-options`);
  return JSON.parse(raw) as T;
}
