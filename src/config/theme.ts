/**
 * Branding and languages of the hosted pages.
 *
 * STEPWISE_THEME_DIR: a folder with `theme.json` (or `theme.yaml`), its assets and optional template
 * overrides (`views/<name>.ejs`, per file; everything else falls back to the shipped views):
 *   { "product_name": "Acme ID", "logo": "logo.svg", "favicon": "favicon.svg",
 *     "colors": { "accent": "#0b57d0", … }, "dark_colors": { "accent": "#8ab4f8", … } }
 * Anything missing (the folder, theme.json, a named asset) falls back to the shipped one with a warning at
 * start-up, never a failed start. STEPWISE_LOCALES_DIR: message catalogs merged over the shipped ones
 * (src/i18n/catalogs.ts).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { z } from 'zod';
import { lazy } from '../lazy.js';
import { PUBLIC_DIR } from '../paths.js';

// Only a theme.yaml needs the YAML parser: most deployments never load it (src/lazy.ts).
const yaml = lazy<typeof import('yaml')>('yaml');

export interface UiConfig {
  themeDir: string | undefined;
  localesDir: string | undefined;
}

export function uiConfig(source: Record<string, string | undefined>): UiConfig {
  return { themeDir: source.STEPWISE_THEME_DIR, localesDir: source.STEPWISE_LOCALES_DIR };
}

/** The colour variables a theme may set (CSS custom properties --sw-<name> in public/stepwise.css). */
export const THEME_COLORS = ['accent', 'accent-text', 'background', 'surface', 'text', 'muted', 'border', 'error', 'focus', 'link'] as const;

// Hex, rgb()/hsl() or a plain colour name: nothing that could close the declaration (no ; { } < >).
const COLOR = /^(#[0-9a-fA-F]{3,8}|(rgb|rgba|hsl|hsla|oklch)\([0-9.,%\s/a-z-]{1,60}\)|[a-zA-Z]{3,20})$/;
const colors = z.partialRecord(z.enum(THEME_COLORS), z.string().regex(COLOR, 'a CSS colour (#0b57d0, rgb(…), hsl(…) or a name)'));
const themeFileSchema = z
  .object({
    product_name: z.string().trim().min(1).max(60).optional(),
    logo: z.string().min(1).max(200).optional(),
    logo_alt: z.string().max(120).optional(),
    favicon: z.string().min(1).max(200).optional(),
    colors: colors.optional(),
    dark_colors: colors.optional(),
  })
  .strict();

const ASSET_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.css': 'text/css',
};

export interface ThemeAsset {
  file: string;
  type: string;
}

export interface Theme {
  productName: string;
  /** URL path of the logo, and its alternative text (the product name unless set). */
  logoUrl: string;
  logoAlt: string;
  faviconUrl: string;
  /** Folder whose `views/<name>.ejs` override the shipped templates, when the theme has one. */
  viewsDir: string | undefined;
  /** /assets/theme/<name> → file; theme.css (the colours) is generated. */
  assets: Map<string, ThemeAsset>;
  css: string;
  warnings: string[];
}

const SHIPPED_LOGO = resolve(PUBLIC_DIR, 'logo.svg');
const SHIPPED_FAVICON = resolve(PUBLIC_DIR, 'favicon.svg');

function cssFor(light: Record<string, string>, dark: Record<string, string>): string {
  const decl = (c: Record<string, string>) => Object.entries(c).map(([k, v]) => `  --sw-${k}: ${v};`).join('\n');
  let css = '/* Generated from the theme (STEPWISE_THEME_DIR). */\n';
  if (Object.keys(light).length) css += `:root {\n${decl(light)}\n}\n`;
  if (Object.keys(dark).length) css += `@media (prefers-color-scheme: dark) {\n  :root {\n${decl(dark)}\n  }\n}\n`;
  return css;
}

function readThemeFile(dir: string, warnings: string[]): z.infer<typeof themeFileSchema> {
  const candidates = ['theme.json', 'theme.yaml', 'theme.yml'].map((f) => resolve(dir, f));
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    warnings.push(`theme: no theme.json or theme.yaml in ${dir}; using the shipped product name, logo and colours`);
    return {};
  }
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : yaml().parse(text);
  } catch (err) {
    warnings.push(`theme: ${file} could not be read (${(err as Error).message}); using the shipped theme`);
    return {};
  }
  const parsed = themeFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    warnings.push(`theme: ${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}; using the shipped theme`);
    return {};
  }
  return parsed.data;
}

/** A file named by the theme, inside its folder; undefined (with a warning) when absent or outside it. */
function themeFile(dir: string, name: string, what: string, warnings: string[]): string | undefined {
  const path = resolve(dir, name);
  const type = ASSET_TYPES[extname(path).toLowerCase()];
  if (!path.startsWith(resolve(dir) + sep)) {
    warnings.push(`theme: ${what} ${name} is outside ${dir}; using the shipped ${what}`);
    return undefined;
  }
  if (!type) {
    warnings.push(`theme: ${what} ${name} is not an image (.svg, .png, .ico, .webp, .jpg); using the shipped ${what}`);
    return undefined;
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    warnings.push(`theme: ${what} ${path} not found; using the shipped ${what}`);
    return undefined;
  }
  return path;
}

export function loadTheme(dir: string | undefined): Theme {
  const warnings: string[] = [];
  const assets = new Map<string, ThemeAsset>();
  let file: z.infer<typeof themeFileSchema> = {};
  let viewsDir: string | undefined;
  if (dir) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) warnings.push(`theme: STEPWISE_THEME_DIR ${dir} is not a folder; using the shipped theme`);
    else {
      file = readThemeFile(dir, warnings);
      if (existsSync(resolve(dir, 'views'))) viewsDir = resolve(dir, 'views');
    }
  }
  const logo = (dir && file.logo && themeFile(dir, file.logo, 'logo', warnings)) || SHIPPED_LOGO;
  const favicon = (dir && file.favicon && themeFile(dir, file.favicon, 'favicon', warnings)) || SHIPPED_FAVICON;
  const logoUrl = `/assets/theme/logo${extname(logo)}`;
  const faviconUrl = `/assets/theme/favicon${extname(favicon)}`;
  assets.set(logoUrl, { file: logo, type: ASSET_TYPES[extname(logo).toLowerCase()]! });
  assets.set(faviconUrl, { file: favicon, type: ASSET_TYPES[extname(favicon).toLowerCase()]! });
  const productName = file.product_name ?? 'Stepwise';
  return {
    productName,
    logoUrl,
    logoAlt: file.logo_alt ?? productName,
    faviconUrl,
    viewsDir,
    assets,
    css: cssFor(file.colors ?? {}, file.dark_colors ?? {}),
    warnings,
  };
}
