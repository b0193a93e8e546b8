/**
 * Turns public options into the resolved form the guard runs on, once, at construction.
 * Every mistake throws a ConfigurationError naming the option, the value and what was
 * expected (core's helpers); nothing is silently replaced by a default.
 */
import type { IncomingMessage } from 'node:http';
import {
  ConfigurationError,
  createWarner,
  describeValue,
  isLeaseStore,
  isRateLimiter,
  type LeaseStore,
  memoryStore,
  nonNegativeInteger,
  optionalFunction,
  plainObject,
  positiveInteger,
  type RateLimiter,
  type RouteHandler,
  rejectUnknownKeys,
  type Warning,
} from '@tierlimit/core';
import type { LeaseFaultMode } from './connection-lease.js';
import type { ConnectionSettings, GuardedConnection } from './guarded-connection.js';
import { type HandlerErrorRoute, resolveHandlerErrorRoute } from './handler-errors.js';
import type { WebSocketGuardOptions } from './options.js';
import type { ResolvedBucket } from './token-bucket.js';

/** Everything the guard runs on; what each connection reads is ConnectionSettings. */
export interface ResolvedGuardOptions extends ConnectionSettings {
  readonly limiter: RateLimiter;
  readonly check: RouteHandler<IncomingMessage>;
  readonly clientIp: (req: IncomingMessage) => string | undefined;
  readonly maxPayload: number;
  readonly leaseTtlMs: number;
  /** Where leases live; `shared` is false when it is this process's own memory store. */
  readonly leaseStore: LeaseStore;
  readonly leaseStoreShared: boolean;
  readonly leaseTimeoutMs: number;
  readonly onStoreFailure: LeaseFaultMode;
  readonly retryAfterMs: number;
  readonly requestIdHeader: string;
}

const OPTION_NAMES = [
  'limiter',
  'policy',
  'cost',
  'clientIp',
  'maxPayload',
  'messages',
  'violations',
  'maxSubscriptions',
  'maxBufferedBytes',
  'bufferGraceMs',
  'bufferCeilingBytes',
  'connections',
  'requestIdHeader',
  'now',
  'onError',
  'onWarning',
];
const CONNECTION_OPTION_NAMES = ['leaseTtlMs', 'heartbeatMs', 'store', 'timeoutMs', 'onStoreFailure', 'retryAfterMs'];
const FAULT_MODES: readonly LeaseFaultMode[] = ['local', 'open', 'closed'];

/**
 * The longest delay a Node timer keeps: a longer one fires after 1 ms, with only a process
 * warning (SPEC section 6 has the same trap in rate-limiter-flexible's windows).
 */
const MAX_TIMER_MS = 2_147_483_647;

/** Header names as Node exposes them: lower case, token characters only. */
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** `value`, or `fallback` when it is absent; unlike `??`, a `null` stays and fails validation. */
function or<T>(value: unknown, fallback: T): unknown {
  return value === undefined ? fallback : value;
}

function defaultClientIp(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress;
}

function resolveMessages(value: unknown): ResolvedBucket | false {
  if (value === false) return false;
  const messages = plainObject(value ?? {}, 'messages');
  rejectUnknownKeys(messages, ['limit', 'windowMs', 'burst'], 'webSocketGuard options', 'messages.');
  const limit = positiveInteger(or(messages.limit, 10), 'messages.limit');
  const windowMs = positiveInteger(or(messages.windowMs, 1_000), 'messages.windowMs');
  const capacity = positiveInteger(or(messages.burst, limit), 'messages.burst');
  return { limit, windowMs, capacity };
}

function resolveViolations(value: unknown): ResolvedGuardOptions['violations'] {
  if (value === false) return false;
  const violations = plainObject(value ?? {}, 'violations');
  rejectUnknownKeys(violations, ['limit', 'windowMs'], 'webSocketGuard options', 'violations.');
  return {
    limit: positiveInteger(or(violations.limit, 20), 'violations.limit'),
    windowMs: positiveInteger(or(violations.windowMs, 10_000), 'violations.windowMs'),
  };
}

export function resolveGuardOptions(options: WebSocketGuardOptions): ResolvedGuardOptions {
  const raw = plainObject(options, 'webSocketGuard options');
  rejectUnknownKeys(raw, OPTION_NAMES, 'webSocketGuard options');
  const limiter = raw.limiter;
  if (!isRateLimiter(limiter)) {
    throw new ConfigurationError(
      `Expected \`limiter\` to be a RateLimiter (from createRateLimiter()), got ${describeValue(limiter)}.`,
    );
  }
  const policy = or(raw.policy, 'api');
  const cost = nonNegativeInteger(or(raw.cost, 1), 'cost');
  // The limiter validates the policy against every tier, exactly as for an HTTP route.
  const check = limiter.handler<IncomingMessage>({ policy: policy as string, cost });

  const now = optionalFunction<() => number>(raw.now, 'now') ?? Date.now;
  // Once per code, through the warning helper every package uses.
  const warner = createWarner(optionalFunction<(warning: Warning) => void>(raw.onWarning, 'onWarning'));
  const warn = (warning: Warning): void => warner.once(warning);
  const onError = resolveHandlerErrorRoute(
    optionalFunction<HandlerErrorRoute<GuardedConnection>>(raw.onError, 'onError'),
    warn,
  );

  const requestIdHeader = or(raw.requestIdHeader, 'x-request-id');
  if (typeof requestIdHeader !== 'string' || !HEADER_NAME.test(requestIdHeader)) {
    throw new ConfigurationError(
      `Expected \`requestIdHeader\` to be a lower-case header name, got ${describeValue(requestIdHeader)}.`,
    );
  }

  const connections = plainObject(or(raw.connections, {}), 'connections');
  rejectUnknownKeys(connections, CONNECTION_OPTION_NAMES, 'webSocketGuard options', 'connections.');
  const leaseTtlMs = positiveInteger(or(connections.leaseTtlMs, 30_000), 'connections.leaseTtlMs');
  if (leaseTtlMs < 3) {
    throw new ConfigurationError(`Expected \`connections.leaseTtlMs\` to be at least 3, got ${leaseTtlMs}.`);
  }
  const heartbeatMs = positiveInteger(
    or(connections.heartbeatMs, Math.floor(leaseTtlMs / 3)),
    'connections.heartbeatMs',
  );
  if (heartbeatMs >= leaseTtlMs) {
    throw new ConfigurationError(
      `Expected \`connections.heartbeatMs\` to be less than \`connections.leaseTtlMs\` (${leaseTtlMs}), got ${heartbeatMs}: a lease must be renewed before it lapses.`,
    );
  }
  let leaseStore: LeaseStore;
  let leaseStoreShared = true;
  if (connections.store !== undefined) {
    if (!isLeaseStore(connections.store)) {
      throw new ConfigurationError(
        `Expected \`connections.store\` to be a lease store (acquireLease, renewLease, releaseLease, countLeases), got ${describeValue(connections.store)}.`,
      );
    }
    leaseStore = connections.store;
  } else if (isLeaseStore(limiter.store)) {
    leaseStore = limiter.store;
  } else {
    leaseStore = memoryStore({ now, sweepIntervalMs: 0 });
    leaseStoreShared = false;
  }
  const onStoreFailure = or(connections.onStoreFailure, 'local');
  if (!FAULT_MODES.includes(onStoreFailure as LeaseFaultMode)) {
    throw new ConfigurationError(
      `Expected \`connections.onStoreFailure\` to be one of 'local', 'open', 'closed', got ${describeValue(onStoreFailure)}.`,
    );
  }

  const bufferGraceMs = nonNegativeInteger(or(raw.bufferGraceMs, 5_000), 'bufferGraceMs');
  if (bufferGraceMs > MAX_TIMER_MS) {
    throw new ConfigurationError(
      `Expected \`bufferGraceMs\` to be at most ${MAX_TIMER_MS} (about 24.8 days, the longest timer Node keeps), got ${bufferGraceMs}.`,
    );
  }
  const maxBufferedBytes = positiveInteger(or(raw.maxBufferedBytes, 1_048_576), 'maxBufferedBytes');
  const bufferCeilingBytes = positiveInteger(
    or(raw.bufferCeilingBytes, Math.min(4 * maxBufferedBytes, Number.MAX_SAFE_INTEGER)),
    'bufferCeilingBytes',
  );
  if (bufferCeilingBytes < maxBufferedBytes) {
    throw new ConfigurationError(
      `Expected \`bufferCeilingBytes\` to be at least \`maxBufferedBytes\` (${maxBufferedBytes}), got ${bufferCeilingBytes}: the ceiling drops a client at once, the cap only after \`bufferGraceMs\`.`,
    );
  }

  return {
    limiter,
    check,
    clientIp: optionalFunction(raw.clientIp, 'clientIp') ?? defaultClientIp,
    maxPayload: positiveInteger(or(raw.maxPayload, 65_536), 'maxPayload'),
    messages: resolveMessages(raw.messages),
    violations: resolveViolations(raw.violations),
    maxSubscriptions: positiveInteger(or(raw.maxSubscriptions, 50), 'maxSubscriptions'),
    maxBufferedBytes,
    bufferGraceMs,
    bufferCeilingBytes,
    leaseTtlMs,
    heartbeatMs,
    leaseStore,
    leaseStoreShared,
    leaseTimeoutMs: positiveInteger(or(connections.timeoutMs, 1_000), 'connections.timeoutMs'),
    onStoreFailure: onStoreFailure as LeaseFaultMode,
    retryAfterMs: positiveInteger(or(connections.retryAfterMs, leaseTtlMs), 'connections.retryAfterMs'),
    requestIdHeader,
    now,
    warn,
    onError,
  };
}
