/**
 * The WebSocket guard for servers built on `ws`. HTTP middleware never sees an upgrade
 * (SPEC section 6), so this file is the upgrade's adapter: it asks the core once, as for a
 * request, writes a refusal on the raw socket before any 101, takes the connection lease,
 * and only then lets `ws` complete the handshake.
 *
 * What a refusal says (status, headers, body) is rendered by core; this file only picks
 * which refusal applies and puts it on the wire.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type Decision,
  type LeaseStore,
  memoryStore,
  type PolicyOutcome,
  type RateLimiter,
  requestIdFrom,
  retryAfterSeconds,
  storageKey,
} from '@tierlimit/core';
import type { WebSocket, WebSocketServer } from 'ws';
import { ConnectionLease, type LeaseContext } from './connection-lease.js';
import { GuardedConnection } from './guarded-connection.js';
import { callSafely } from './handler-errors.js';
import type { WebSocketGuardOptions } from './options.js';
import { refuseUpgrade } from './upgrade-response.js';
import { type ResolvedGuardOptions, resolveGuardOptions } from './validate-options.js';

/**
 * Receives each admitted connection, once the handshake is complete. A throw, or a
 * rejection of the promise it returns (an `async` handler), goes to the guard's `onError`.
 */
export type ConnectionHandler = (conn: GuardedConnection, req: IncomingMessage) => void;

/** How long (ms) a client is asked to wait when the guard cannot decide (a failing store, a shutdown). */
const UNAVAILABLE_RETRY_MS = 5_000;
/** How long `close()` waits for clients to answer the close frame before cutting them, in ms. */
const CLOSE_GRACE_MS = 1_000;

function ignoreError(): void {
  // Until ws takes the socket over, a reset must not become an uncaught 'error' event:
  // Node removes its own listener before emitting 'upgrade'. The socket is destroyed anyway.
}

function usable(socket: Duplex): boolean {
  return !socket.destroyed && socket.writable;
}

/** Limits WebSocket upgrades and connections for one `ws` server (or several). See {@link webSocketGuard}. */
export class WebSocketGuard {
  readonly #options: ResolvedGuardOptions;
  readonly #leases: LeaseContext;
  readonly #connections = new Set<GuardedConnection>();
  readonly #servers = new WeakMap<WebSocketServer, boolean>();
  /** Rate-limit headers to add to each admitted upgrade's 101 response. */
  readonly #headers = new WeakMap<IncomingMessage, Readonly<Record<string, string>>>();
  /** Upgrades under way (each settles, never rejects). */
  readonly #pending = new Set<Promise<void>>();
  #local: LeaseStore | undefined;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(options: WebSocketGuardOptions) {
    const resolved = resolveGuardOptions(options);
    this.#options = resolved;
    this.#leases = {
      store: resolved.leaseStore,
      local: () => {
        this.#local ??= memoryStore({ now: resolved.now, sweepIntervalMs: 0 });
        return this.#local;
      },
      ttlMs: resolved.leaseTtlMs,
      timeoutMs: resolved.leaseTimeoutMs,
      onStoreFailure: resolved.onStoreFailure,
      warn: resolved.warn,
    };
    if (!resolved.leaseStoreShared) {
      resolved.warn({
        code: 'TL_WS_LOCAL_LEASES',
        message:
          "the limiter's store does not keep leases, so connection caps hold per process; pass `connections.store` (a memory or Redis store) to share them.",
      });
    }
  }

  /**
   * Options to spread into `new WebSocketServer({ noServer: true, ...guard.serverOptions })`:
   * `maxPayload`, so `ws` closes a connection with 1009 on a larger message.
   */
  get serverOptions(): { readonly maxPayload: number } {
    return { maxPayload: this.#options.maxPayload };
  }

  /** The connections currently open through this guard. */
  get connections(): ReadonlySet<GuardedConnection> {
    return this.#connections;
  }

  /**
   * Handles one upgrade request: call it from your HTTP server's `upgrade` event. Refused
   * upgrades get an HTTP response (429, 401, 400, 503...) and no handshake; admitted ones
   * complete the handshake on `wss` and reach `onConnection`. Never throws or rejects:
   * every failure answers the socket.
   */
  handleUpgrade(
    wss: WebSocketServer,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    onConnection: ConnectionHandler,
  ): void {
    socket.on('error', ignoreError);
    const requestId = requestIdFrom(req.headers, this.#options.requestIdHeader);
    const upgrade = this.#upgrade(wss, req, socket, head, onConnection, requestId).then(undefined, (error: unknown) => {
      this.#options.warn({
        code: 'TL_WS_UPGRADE_FAILED',
        message: `a WebSocket upgrade failed (${error instanceof Error ? error.message : typeof error}); answered 500.`,
        error,
      });
      try {
        this.#refuse(socket, requestId, undefined, {
          status: 500,
          code: 'INTERNAL_ERROR',
          message: 'The WebSocket upgrade could not be handled.',
        });
      } catch {
        socket.destroy();
      }
    });
    this.#pending.add(upgrade);
    void upgrade.finally(() => this.#pending.delete(upgrade));
  }

  /**
   * Shuts the guard down: new upgrades get 503, open connections get a 1001 close frame
   * and their leases are given back; clients that have not closed within a second are cut.
   * Resolves once every lease is given back. Never rejects.
   */
  async close(): Promise<void> {
    this.#closing = true;
    // Upgrades under way finish first (refused with 503, or admitted and then closed here),
    // so their leases are given back before the caller closes the limiter's store.
    await this.#settle([...this.#pending]);
    const connections = [...this.#connections];
    await Promise.all(connections.map((conn) => conn.shutdown()));
    if (this.#connections.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_GRACE_MS);
        timer.unref();
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const conn of this.#connections) conn.socket.terminate();
  }

  /** Waits for `tasks` (which never reject), at most CLOSE_GRACE_MS: a hanging resolver must not hang a shutdown. */
  async #settle(tasks: readonly Promise<void>[]): Promise<void> {
    if (tasks.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(tasks),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_GRACE_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  async #upgrade(
    wss: WebSocketServer,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    onConnection: ConnectionHandler,
    requestId: string,
  ): Promise<void> {
    const options = this.#options;
    const ready = this.#serverReady(wss);
    if (ready === 'destroy') {
      socket.destroy();
      return;
    }
    if (ready === 'refuse') {
      return this.#refuse(socket, requestId, undefined, {
        status: 500,
        code: 'INTERNAL_ERROR',
        message: 'The WebSocket server is misconfigured.',
      });
    }
    if (this.#closing) return this.#unavailable(socket, requestId, 'The server is shutting down. Retry shortly.');

    const decision = await options.check(req, {
      ip: options.clientIp(req),
      peer: req.socket.remoteAddress,
      headers: req.headers,
    });
    // An upgrade is one request: a concurrency limit of its policy holds a slot while it is
    // decided, not for the connection's life (that is `websocket.connections`).
    decision.release();
    if (!usable(socket)) return;
    if (!decision.allowed) {
      refuseUpgrade(socket, { status: decision.status, headers: decision.headers, body: decision.body });
      return;
    }

    let lease: ConnectionLease | undefined;
    const max = decision.limits?.websocket?.connections;
    if (decision.identity !== undefined && max !== undefined) {
      const taken = await ConnectionLease.acquire(this.#leases, storageKey('connections', decision.identity), max);
      if (taken === 'full') return this.#capReached(socket, requestId, decision, max);
      if (taken === 'unavailable') {
        return this.#unavailable(socket, requestId, 'Connection limiting is temporarily unavailable. Retry shortly.');
      }
      lease = taken;
      // Exactly once however the socket ends: a refused or failed handshake, a close, an
      // error, a terminate, a shutdown. Releasing twice is harmless (leases are a set).
      socket.once('close', () => void taken.release());
    } else if (decision.limits !== undefined) {
      options.warn({
        code: 'TL_WS_NO_CONNECTION_LIMIT',
        message: `tier \`${decision.limits.name}\` has no \`websocket.connections\`; its WebSocket connections are not capped.`,
      });
    }
    if (!usable(socket)) {
      await lease?.release();
      return;
    }
    if (this.#closing) {
      await lease?.release();
      return this.#unavailable(socket, requestId, 'The server is shutting down. Retry shortly.');
    }

    this.#headers.set(req, decision.headers);
    socket.off('error', ignoreError);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = new GuardedConnection(ws, decision, requestId, lease, options);
      this.#connections.add(conn);
      conn.once('close', () => {
        this.#connections.delete(conn);
        if (this.#connections.size === 0) this.#drained?.();
      });
      // Runs inside ws's handshake callback: a throw here would be an uncaught exception.
      callSafely(
        () => onConnection(conn, req),
        (error) => options.onError(error, conn),
      );
    });
  }

  /**
   * Checks a WebSocketServer once: it must leave upgrades to the guard (`noServer`) and
   * enforce the guard's `maxPayload`. Also adds the decision's rate-limit headers to the 101.
   */
  #serverReady(wss: WebSocketServer): 'ok' | 'refuse' | 'destroy' {
    let verdict = this.#servers.get(wss);
    if (verdict === undefined) {
      const { noServer, maxPayload } = wss.options;
      verdict = noServer === true && typeof maxPayload === 'number' && maxPayload <= this.#options.maxPayload;
      this.#servers.set(wss, verdict);
      if (verdict) {
        wss.on('headers', (headers: string[], req: IncomingMessage) => {
          const extra = this.#headers.get(req);
          if (extra === undefined) return;
          this.#headers.delete(req);
          for (const [name, value] of Object.entries(extra)) headers.push(`${name}: ${value}`);
        });
      } else {
        this.#options.warn({
          code: 'TL_WS_SERVER_OPTIONS',
          message: `the WebSocketServer must be created with \`{ noServer: true, ...guard.serverOptions }\` (got noServer ${String(noServer)}, maxPayload ${String(maxPayload)} where at most ${this.#options.maxPayload} is expected); its upgrades are refused.`,
        });
      }
    }
    if (verdict) return 'ok';
    // With noServer off, ws answers upgrades itself as well: writing to the socket would corrupt its answer.
    return wss.options.noServer === true ? 'refuse' : 'destroy';
  }

  /** The connection cap is full: a 429 in the JSON error shape, reported as the `connections` policy. */
  #capReached(socket: Duplex, requestId: string, decision: Decision, max: number): void {
    const now = this.#options.now();
    const retryAfterMs = this.#options.retryAfterMs;
    const retryAfter = retryAfterSeconds(retryAfterMs);
    const outcome: PolicyOutcome = {
      policy: 'connections',
      name: 'connections',
      algorithm: 'concurrency',
      limit: max,
      windowMs: 0,
      per: undefined,
      timeZone: undefined,
      cost: 1,
      allowed: false,
      remaining: 0,
      resetAt: now + retryAfterMs,
      retryAfterMs,
      shadow: false,
      suspended: false,
    };
    const plan = decision.tier === undefined ? '' : ` (${decision.tier} plan)`;
    this.#refuse(
      socket,
      requestId,
      decision,
      {
        status: 429,
        code: 'RATE_LIMITED',
        message: `Connection limit reached: at most ${max} concurrent WebSocket connections${plan}. Retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
        details: { limit: max, retryAfter, policy: 'connections' },
        retryAfterMs,
      },
      outcome,
    );
  }

  #unavailable(socket: Duplex, requestId: string, message: string): void {
    this.#refuse(socket, requestId, undefined, {
      status: 503,
      code: 'SERVICE_UNAVAILABLE',
      message,
      retryAfterMs: UNAVAILABLE_RETRY_MS,
    });
  }

  /** Renders a refusal with the limiter's own wire settings and writes it on the socket. */
  #refuse(
    socket: Duplex,
    requestId: string,
    decision: Decision | undefined,
    refusal: Omit<Parameters<RateLimiter['refusal']>[0], 'requestId' | 'base' | 'outcome'>,
    outcome?: PolicyOutcome,
  ): void {
    const refused = this.#options.limiter.refusal({ ...refusal, requestId, base: decision, outcome });
    refuseUpgrade(socket, { status: refused.status, headers: refused.headers, body: refused.body });
  }
}

/**
 * Creates a WebSocket guard. See {@link WebSocketGuardOptions}.
 *
 * @example
 * const guard = webSocketGuard({ limiter })
 * const wss = new WebSocketServer({ noServer: true, ...guard.serverOptions })
 * server.on('upgrade', (req, socket, head) =>
 *   guard.handleUpgrade(wss, req, socket, head, (conn) => {
 *     conn.on('message', (data) => conn.send(data))
 *   }),
 * )
 */
export function webSocketGuard(options: WebSocketGuardOptions): WebSocketGuard {
  return new WebSocketGuard(options);
}
