/**
 * A minimal cookie-keeping HTTP user agent for integration tests: follows redirects by hand and keeps
 * cookies per Path (oidc-provider scopes its interaction cookie to /interaction/<uid>).
 */
export interface Cookie {
  name: string;
  value: string;
  path: string;
}

export interface Page {
  status: number;
  url: string;
  headers: Headers;
  body: string;
}

export class FakeBrowser {
  readonly cookies: Cookie[] = [];
  /** Sent with every request (e.g. X-Forwarded-For behind TRUST_PROXY, a User-Agent). */
  readonly headers: Record<string, string> = {};

  constructor(private readonly origin: string) {}

  private store(res: Response) {
    for (const header of res.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^expires=thu, 01 jan 1970/i.test(a)) || attrs.some((a) => /^max-age=0$/i.test(a));
      const i = this.cookies.findIndex((c) => c.name === name && c.path === path);
      if (i >= 0) this.cookies.splice(i, 1);
      if (!expired && value !== '') this.cookies.push({ name, value, path });
    }
  }

  cookieHeader(url: URL): string {
    return this.cookies
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Page> {
    const target = new URL(url, this.origin);
    const headers: Record<string, string> = { accept: 'text/html', ...this.headers, ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      headers.accept = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(target, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(res);
    return { status: res.status, url: target.toString(), headers: res.headers, body: await res.text() };
  }

  /** Follows redirects within the origin; stops at a redirect to another origin (the RP callback) and returns it. */
  async follow(url: string, init: Parameters<FakeBrowser['request']>[1] = {}): Promise<Page> {
    let page = await this.request(url, init);
    for (let i = 0; i < 20 && page.status >= 300 && page.status < 400; i++) {
      const location = new URL(page.headers.get('location')!, page.url);
      if (location.origin !== new URL(this.origin).origin) {
        return { ...page, url: location.toString() };
      }
      page = await this.request(location.toString());
    }
    return page;
  }
}

/**
 * A browser on a given network, behind a proxy that appends the client address (TRUST_PROXY=1): the
 * right-most X-Forwarded-For entry is the client. A desktop Chrome user agent.
 */
export function browserAt(origin: string, ip: string): FakeBrowser {
  const b = new FakeBrowser(origin);
  b.headers['x-forwarded-for'] = ip;
  b.headers['user-agent'] = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36';
  return b;
}

/** Extracts a hidden input's value (e.g. csrf) from a page. */
export function hiddenField(html: string, name: string): string {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no hidden field ${name} in page:\n${html.slice(0, 500)}`);
  return m[1]!;
}

export function formAction(html: string, contains: string): string {
  const m = [...html.matchAll(/action="([^"]+)"/g)].map((x) => x[1]!).find((a) => a.includes(contains));
  if (!m) throw new Error(`no form action containing ${contains}`);
  return m;
}
