/** Public exports of the stepwise package. */
export { checkAuthentication, parseStepUpChallenge, requireAuthentication, DEFAULT_ACR_LEVELS } from './rs/index.js';
export type { AuthenticationRequirement, TokenAuthentication, CheckResult } from './rs/index.js';
export { loadConfig } from './config/index.js';
export { startServer } from './server.js';
