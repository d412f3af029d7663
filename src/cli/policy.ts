import type { Container } from '../container.js';

/** Placeholder until the per-client policy lands (issue 4). */
export async function runClientPolicyCommand(_c: Container, _args: string[]): Promise<unknown> {
  throw new Error('clients policy is not available yet');
}
