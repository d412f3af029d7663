/**
 * Four eyes, for the API, the console and the CLI: list pending actions, approve (a different admin; the
 * action then runs exactly once) or reject. The mechanics are in ./pending.ts; importing the modules that
 * own guarded actions here registers their executors before any approval runs.
 */
import './users.js';
import './clients.js';
import './recovery.js';
export {
  approvePendingAction as approveAction,
  getPendingAction as getApproval,
  listPendingActions as listApprovals,
  rejectPendingAction as rejectAction,
  needsSecondApproval,
  type PendingActionView,
  type PendingStatus,
} from './pending.js';
