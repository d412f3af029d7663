/**
 * Admin actions the policy file may put under four eyes (`admin: { second_approval: [...] }`): each is
 * created pending and takes effect only once a second, different admin approves it (src/admin/pending.ts).
 * No imports: the policy-file loader reads this list.
 */
export const SECOND_APPROVAL_ACTIONS = ['lower_client_minimum', 'remove_user_factors', 'start_recovery'] as const;
export type SecondApprovalAction = (typeof SECOND_APPROVAL_ACTIONS)[number];
