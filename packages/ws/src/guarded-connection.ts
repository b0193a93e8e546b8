/**
 * One admitted WebSocket connection and its per-connection limits: the message rate (a
 * token bucket), repeated violations, the subscription count, the send buffer bound, and
 * the heartbeat that keeps its connection lease alive. Messages reach the app only through
 * this object's `message` event, and only when the rate allows; whatever the app's
 * listeners throw or reject goes to the guard's `onError`, never to the process.
 */
import { EventEmitter } from 'node:events';
import {
  type Decision,
  describeDuration,
  type ErrorBody,
  errorBody,
  retryAfterSeconds,
  type Warning,
} from '@tierlimit/core';
import type { RawData, WebSocket } from 'ws';
import { CloseCode } from './close-codes.js';
import type { ConnectionLease, LeaseHolding } from './connection-lease.js';
import { callSafely, type HandlerErrorRoute } from './handler-errors.js';
import { type ResolvedBucket, TokenBucket } from './token-bucket.js';

/** Events of a {@link GuardedConnection} (`conn.on(name, listener)`). */
export interface GuardedConnectionEvents {
  /**
   * A message within the rate limit. Messages over it never arrive here. A listener that
   * throws or rejects (a bare `JSON.parse` of a non-JSON frame) reaches the guard's
   * `onError`, as for every event here; the process never sees it.
   */
  message: [data: RawData, isBinary: boolean];
  /** The connection closed, however it ended; the lease is released by then. */
  close: [code: number, reason: Buffer];
  /**
   * A socket error (an oversized or malformed frame, a reset); `close` follows. Emitted only
   * when you listen to it, so an unhandled error never crashes the process.
   */
  error: [error: Error];
  /** A message was refused for the rate limit; the client got the error frame `body`. */
  limited: [body: ErrorBody];
}

/**
 * What a connection reads from its guard's resolved options. Declared here, not taken from
 * validate-options, so that the public options can name GuardedConnection (in `onError`)
 * without a cycle between the two files.
 */
export interface ConnectionSettings {
  readonly messages: ResolvedBucket | false;
  readonly violations: { readonly limit: number; readonly windowMs: number } | false;
  readonly maxSubscriptions: number;
  readonly maxBufferedBytes: number;
  readonly bufferGraceMs: number;
  readonly bufferCeilingBytes: number;
  readonly heartbeatMs: number;
  readonly now: () => number;
  readonly warn: (warning: Warning) => void;
  /** Never throws (resolveHandlerErrorRoute). */
  readonly onError: HandlerErrorRoute<GuardedConnection>;
}

type Listener<K extends keyof GuardedConnectionEvents> = (
  this: GuardedConnection,
  ...args: GuardedConnectionEvents[K]
) => unknown;

/** `ws`'s readyState values. */
const OPEN = 1;

export class GuardedConnection extends EventEmitter<GuardedConnectionEvents> {
  /** The `ws` WebSocket. Send through `conn.send` so the send-buffer bound is checked at once. */
  readonly socket: WebSocket;
  /** The limiter's decision for the upgrade: tier, identity, limits, headers. */
  readonly decision: Decision;
  /** The upgrade's request id (its `X-Request-Id`, or a fresh one), echoed in error frames. */
  readonly requestId: string;
  readonly #options: ConnectionSettings;
  readonly #bucket: TokenBucket | undefined;
  readonly #subscriptions = new Set<string>();
  readonly #lease: ConnectionLease | undefined;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  /** Set while the send buffer is over `maxBufferedBytes`: the one timer that ends the grace period. */
  #overCap: ReturnType<typeof setTimeout> | undefined;
  #violations = 0;
  #violationWindowEnd = 0;
  #closed = false;

  /** @internal Created by the guard once the handshake completes. */
  constructor(
    socket: WebSocket,
    decision: Decision,
    requestId: string,
    lease: ConnectionLease | undefined,
    options: ConnectionSettings,
  ) {
    super();
    this.socket = socket;
    this.decision = decision;
    this.requestId = requestId;
    this.#options = options;
    this.#lease = lease;
    this.#bucket = options.messages === false ? undefined : new TokenBucket(options.messages, options.now);
    this.#heartbeat = setInterval(() => void this.#beat(), options.heartbeatMs);
    this.#heartbeat.unref();
    socket.on('message', (data, isBinary) => this.#receive(data, isBinary));
    socket.on('error', (error) => this.#dispatch('error', error));
    socket.once('close', (code, reason) => {
      this.#end();
      this.#dispatch('close', code, reason);
    });
  }

  /** The tier of the API key (or the anonymous tier). */
  get tier(): string | undefined {
    return this.decision.tier;
  }

  /** The caller's storage identity (a hash of the API key, never the key). */
  get identity(): string | undefined {
    return this.decision.identity;
  }

  /** Channels this connection is subscribed to. */
  get subscriptions(): ReadonlySet<string> {
    return this.#subscriptions;
  }

  /** Most channels this connection may be subscribed to at once (`maxSubscriptions`). */
  get maxSubscriptions(): number {
    return this.#options.maxSubscriptions;
  }

  /**
   * Where this connection's lease is held: `'shared'` (the lease store), `'local'` (the
   * in-process fallback while the store fails), `'none'` (`open` mode), or `undefined`
   * when its tier has no connection cap.
   */
  get leaseHolding(): LeaseHolding | undefined {
    return this.#lease?.holding;
  }

  /**
   * Counts a subscription to `channel` against `maxSubscriptions`. True when subscribed
   * (including when it already was: a repeat costs nothing), false when the cap is reached,
   * in which case tell the client in your protocol's words (see `errorBody`).
   */
  subscribe(channel: string): boolean {
    if (typeof channel !== 'string') {
      throw new TypeError(`Expected a channel name (a string), got ${typeof channel}.`);
    }
    if (this.#subscriptions.has(channel)) return true;
    if (this.#closed || this.#subscriptions.size >= this.#options.maxSubscriptions) return false;
    this.#subscriptions.add(channel);
    return true;
  }

  /** Frees `channel`'s place; true if it was subscribed. */
  unsubscribe(channel: string): boolean {
    return this.#subscriptions.delete(channel);
  }

  /**
   * Sends `data` (see `ws`'s `send`), then checks the send buffer: over `maxBufferedBytes`
   * starts the grace period (`bufferGraceMs`), over `bufferCeilingBytes` drops the client
   * at once. False when the connection is not open or was just dropped.
   */
  send(data: string | Buffer | ArrayBuffer | Uint8Array, callback?: (error?: Error) => void): boolean {
    // Once open, ws's send never throws: on a closing socket it reports the error to `callback`.
    if (callback === undefined) this.socket.send(data);
    else this.socket.send(data, callback);
    return this.socket.readyState === OPEN && this.#checkBuffer();
  }

  /** Closes the connection (see `ws`'s `close`). */
  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }

  /**
   * An error body in tierlimit's JSON error shape (the HTTP one), with this connection's
   * request id and the time: reply with it in your own frames, e.g. when `subscribe`
   * returns false.
   */
  errorBody(code: string, message: string, details?: Readonly<Record<string, unknown>>): ErrorBody {
    return errorBody(code, message, details, this.requestId, this.#options.now());
  }

  #receive(data: RawData, isBinary: boolean): void {
    // Frames still arriving after a close was started (ours or the client's) are not the app's business.
    if (this.#closed || this.socket.readyState !== OPEN) return;
    const waitMs = this.#bucket?.take() ?? 0;
    if (waitMs === 0) {
      this.#dispatch('message', data, isBinary);
      return;
    }
    this.#refuse(waitMs);
  }

  /** A message over the rate: an error frame instead of delivery, and a close after repeated violations. */
  #refuse(waitMs: number): void {
    const messages = this.#options.messages;
    if (messages === false) return;
    const violations = this.#options.violations;
    if (violations !== false) {
      const now = this.#options.now();
      if (now >= this.#violationWindowEnd) {
        this.#violations = 0;
        this.#violationWindowEnd = now + violations.windowMs;
      }
      if (++this.#violations > violations.limit) {
        this.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded repeatedly');
        return;
      }
    }
    const retryAfter = retryAfterSeconds(waitMs);
    // The same numbers the HTTP 429 reports for a token bucket: its capacity, and the time
    // it takes to refill from empty.
    const body = this.errorBody(
      'RATE_LIMITED',
      `Rate limit exceeded. Retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
      {
        limit: messages.capacity,
        window: describeDuration(Math.round((messages.capacity * messages.windowMs) / messages.limit)),
        retryAfter,
        policy: 'messages',
      },
    );
    this.send(JSON.stringify(body));
    this.#dispatch('limited', body);
  }

  /**
   * Calls each listener of `event` on its own, like `emit`, but a throw or a rejection goes
   * to `onError` instead of up through `ws`'s socket listener (an uncaught exception that
   * would end the process), and does not keep the next listeners from running. `error` has
   * no special meaning here: with no listener it goes nowhere.
   */
  #dispatch<K extends keyof GuardedConnectionEvents>(event: K, ...args: GuardedConnectionEvents[K]): void {
    // rawListeners is a copy (a listener may remove itself), with `once` wrappers that
    // remove themselves when called, as `emit` does.
    for (const listener of this.rawListeners(event) as Listener<K>[]) {
      callSafely(
        () => listener.apply(this, args),
        (error) => this.#options.onError(error, this),
      );
    }
  }

  /**
   * The send-buffer bound. Over `maxBufferedBytes` the client is watched, not dropped: one
   * large publish, or a burst of sends in one tick, fills the buffer for a moment even for
   * a client reading at full speed (issue 13). It is dropped if the buffer is still over
   * the cap when `bufferGraceMs` has passed (a check that finds it under the cap meanwhile
   * ends the watch), or at once past `bufferCeilingBytes`, which bounds what one stalled
   * client can hold in this process during the grace period. False if dropped.
   */
  #checkBuffer(): boolean {
    const { maxBufferedBytes, bufferCeilingBytes, bufferGraceMs } = this.#options;
    const buffered = this.socket.bufferedAmount;
    if (buffered <= maxBufferedBytes) {
      this.#stopWatching();
      return true;
    }
    if (buffered > bufferCeilingBytes) return this.#drop('ceiling');
    if (bufferGraceMs === 0) return this.#drop('grace');
    // One timer per connection while over the cap, never one per message: later checks
    // over the cap leave it running, so a client that never drains is dropped on time.
    if (this.#overCap === undefined) {
      this.#overCap = setTimeout(() => {
        this.#overCap = undefined;
        if (!this.#closed && this.socket.bufferedAmount > maxBufferedBytes) this.#drop('grace');
      }, bufferGraceMs);
      this.#overCap.unref();
    }
    return true;
  }

  #stopWatching(): void {
    if (this.#overCap === undefined) return;
    clearTimeout(this.#overCap);
    this.#overCap = undefined;
  }

  #drop(why: 'grace' | 'ceiling'): false {
    this.#stopWatching();
    this.#options.warn(slowClient(why, this.#options));
    // A close frame would wait behind the very data the client does not read: cut it.
    this.socket.terminate();
    return false;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    if (!this.#checkBuffer()) return;
    if (this.#lease === undefined) return;
    const keep = await this.#lease.renew();
    if (!keep && !this.#closed) this.close(CloseCode.TRY_AGAIN_LATER, 'connection limit reached');
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#stopWatching();
    this.#subscriptions.clear();
    void this.#lease?.release();
  }

  /** @internal The guard's shutdown: a close frame, and the lease given back now. */
  shutdown(): Promise<void> {
    if (this.socket.readyState === OPEN) this.close(CloseCode.GOING_AWAY, 'server shutting down');
    return this.#lease?.release() ?? Promise.resolve();
  }
}

function slowClient(why: 'grace' | 'ceiling', options: ConnectionSettings): Warning {
  const { maxBufferedBytes, bufferGraceMs, bufferCeilingBytes } = options;
  return {
    code: 'TL_WS_SLOW_CLIENT',
    message:
      why === 'grace'
        ? `a WebSocket client's send buffer stayed above maxBufferedBytes (${maxBufferedBytes} bytes) for bufferGraceMs (${bufferGraceMs} ms): it is not reading fast enough, and was dropped.`
        : `a WebSocket client's send buffer passed bufferCeilingBytes (${bufferCeilingBytes} bytes); it was dropped at once to protect the server's memory.`,
  };
}
