/** The level table (read-only: it comes from configuration, STEPWISE_LEVELS_FILE). */
import type { AdminContext } from './types.js';

export interface LevelView {
  acr: string;
  level: number;
  max_age_seconds: number;
  min_factors: number;
  phishing_resistant: boolean;
}

export function listLevels(c: AdminContext): LevelView[] {
  return [...c.levels]
    .sort((a, b) => a.level - b.level)
    .map((l) => ({ acr: l.acr, level: l.level, max_age_seconds: l.maxAgeSeconds, min_factors: l.minFactors, phishing_resistant: l.phishingResistant }));
}
