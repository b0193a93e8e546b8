export { CloseCode } from './close-codes.js';
export type { LeaseFaultMode, LeaseHolding } from './connection-lease.js';
export { type ConnectionHandler, WebSocketGuard, webSocketGuard } from './guard.js';
export { GuardedConnection, type GuardedConnectionEvents } from './guarded-connection.js';
export type {
  ConnectionOptions,
  MessageLimits,
  ViolationLimits,
  WebSocketGuardOptions,
} from './options.js';
export { refuseUpgrade, type UpgradeResponse } from './upgrade-response.js';
