/**
 * Optional level table (STEPWISE_LEVELS_FILE, YAML or JSON), validated at start-up. Shape:
 *   levels:
 *     - { acr: loa1, level: 1, max_age_seconds: 1209600, min_factors: 1, phishing_resistant: false }
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './index.js';
import { lazy } from '../lazy.js';
import type { LevelRule } from '../policy/levels.js';

// Loaded only when STEPWISE_LEVELS_FILE is set (src/lazy.ts).
const yaml = lazy<typeof import('yaml')>('yaml');

const fileSchema = z.object({
  levels: z
    .array(
      z
        .object({
          acr: z.string().min(1).max(100),
          level: z.number().int().min(1).max(10),
          max_age_seconds: z.number().int().min(60).max(30 * 24 * 3600),
          min_factors: z.number().int().min(1).max(2),
          phishing_resistant: z.boolean().default(false),
        })
        .strict(),
    )
    .min(1)
    .refine((l) => new Set(l.map((x) => x.acr)).size === l.length, 'acr values must be unique')
    .refine((l) => new Set(l.map((x) => x.level)).size === l.length, 'levels must be unique'),
});

export function loadLevelsFile(path: string): LevelRule[] {
  let raw: unknown;
  try {
    raw = yaml().parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`STEPWISE_LEVELS_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  const result = fileSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`STEPWISE_LEVELS_FILE: ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return result.data.levels
    .map((l) => ({ acr: l.acr, level: l.level, maxAgeSeconds: l.max_age_seconds, minFactors: l.min_factors, phishingResistant: l.phishing_resistant }))
    .sort((a, b) => a.level - b.level);
}
