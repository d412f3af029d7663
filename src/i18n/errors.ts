/**
 * Error messages in the request's language: the code's message (`translation:errors.<code>`), or — for an
 * error raised with a specific English detail — that sentence's translation (`text:<English>`), else the
 * English detail itself (better specific than generic). Details built with numbers or parts
 * ("… 2 tries left …") match `text` entries with placeholders (I18n#sentence).
 */
import type { ErrorCode } from '../errors/index.js';
import { currentLocaleSync } from './context.js';

export function translateErrorMessage(code: ErrorCode, detail: string | undefined): string | undefined {
  const current = currentLocaleSync();
  if (!current) return undefined;
  const { i18n, lang } = current;
  if (detail !== undefined) return i18n.sentence(lang, detail);
  const key = `errors.${code}`;
  return i18n.exists(lang, key) || i18n.exists('en', key) ? i18n.translator(lang)(key) : undefined;
}
