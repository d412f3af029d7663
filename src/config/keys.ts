/**
 * Signing-key refresh (src/oidc/key-refresh.ts), parsed from the same cleaned environment as the rest of
 * src/config/index.ts.
 *
 * - KEY_REFRESH_SECONDS (default 30): how often every running process re-reads the signing keys, so a
 *   `stepwise keys rotate` reaches all of them without a restart.
 * - KEY_ACTIVATION_DELAY_SECONDS (default: KEY_REFRESH_SECONDS): how long `keys rotate` publishes the new key
 *   before it signs. At least the refresh interval, so every process publishes a key before any signs with it.
 */
import { z } from 'zod';

export interface KeysConfig {
  refreshSeconds: number;
  activationDelaySeconds: number;
}

const seconds = z.coerce.number().int('a whole number of seconds').min(1).max(86_400);
const keysEnvSchema = z.object({ KEY_REFRESH_SECONDS: seconds.optional(), KEY_ACTIVATION_DELAY_SECONDS: seconds.optional() });

/** `fail` is the caller's ConfigError factory (one error type for every configuration problem). */
export function keysConfig(source: Record<string, string | undefined>, fail: (message: string) => Error): KeysConfig {
  const result = keysEnvSchema.safeParse(source);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = issue.path.join('.');
    throw fail(`${name}: ${issue.message} (got ${JSON.stringify(source[name])})`);
  }
  const refreshSeconds = result.data.KEY_REFRESH_SECONDS ?? 30;
  const activationDelaySeconds = result.data.KEY_ACTIVATION_DELAY_SECONDS ?? refreshSeconds;
  if (activationDelaySeconds < refreshSeconds) {
    throw fail(
      `KEY_ACTIVATION_DELAY_SECONDS (${activationDelaySeconds}) must be at least KEY_REFRESH_SECONDS (${refreshSeconds}): a rotated-in key has to be published by every process before one signs with it`,
    );
  }
  return { refreshSeconds, activationDelaySeconds };
}
