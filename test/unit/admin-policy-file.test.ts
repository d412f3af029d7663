/** The policy file's `admin.second_approval` (four eyes): parsed, validated with a precise error, absent by default. */
import { describe, expect, it } from 'vitest';
import { parsePolicy, loadPolicyFile } from '../../src/risk/policy-file.js';

describe('policy file admin.second_approval', () => {
  it('is empty (absent) in the shipped default and when omitted', () => {
    expect(loadPolicyFile(undefined).admin).toBeUndefined();
    expect(parsePolicy('admin:\n  second_approval: []\n', 'p.yaml').admin).toBeUndefined();
  });

  it('lists the actions that need a second admin, once each', () => {
    const policy = parsePolicy('admin:\n  second_approval: [lower_client_minimum, remove_user_factors, start_recovery, start_recovery]\n', 'p.yaml');
    expect(policy.admin).toEqual({ secondApproval: ['lower_client_minimum', 'remove_user_factors', 'start_recovery'] });
  });

  it('refuses an unknown action or key with the line and the allowed values', () => {
    expect(() => parsePolicy('admin:\n  second_approval: [delete_everything]\n', 'p.yaml')).toThrow(
      /p\.yaml:2: admin\.second_approval\[0\]: expected one of lower_client_minimum\|remove_user_factors\|start_recovery/,
    );
    expect(() => parsePolicy('admin:\n  second_aproval: []\n', 'p.yaml')).toThrow(/p\.yaml:2: admin\.second_aproval: unknown key \(did you mean second_approval\?\)/);
  });
});
