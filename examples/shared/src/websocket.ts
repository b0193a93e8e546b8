/**
 * The demo WebSocket endpoint, `/ws`, on the same port as the HTTP API. It is the same
 * code for the three demos: Express, Koa and Fastify all run on a Node `http.Server`, and
 * WebSockets are `ws` on that server's `upgrade` event, which no framework middleware sees.
 *
 * Protocol (JSON text frames; tierlimit does not dictate any of it):
 * - `{"type":"subscribe","channel":"scores"}` -> `{"type":"subscribed","channel":"scores"}`,
 *   or `{"type":"error","error":{...}}` once 50 channels are subscribed;
 * - `{"type":"unsubscribe","channel":"scores"}` -> `{"type":"unsubscribed","channel":"scores"}`;
 * - `{"type":"event", ...}` -> `{"type":"ack"}`;
 * - anything else -> `{"type":"error","error":{...}}`.
 * Over 10 messages a second, the guard answers `{"error":{"code":"RATE_LIMITED",...}}`.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { RateLimiter } from '@tierlimit/core';
import { type GuardedConnection, refuseUpgrade, type WebSocketGuard, webSocketGuard } from '@tierlimit/ws';
import proxyaddr from 'proxy-addr';
import { WebSocketServer } from 'ws';
import { type DemoOptions, notFoundBody } from './index.js';

/** The path WebSocket clients connect to. */
export const webSocketPath = '/ws';

/** What `attachDemoWebSockets` returns: the guard, and how to shut WebSockets down. */
export interface DemoWebSockets {
  readonly guard: WebSocketGuard;
  /** Closes every connection (1001) and gives its lease back. */
  close(): Promise<void>;
}

const trustLoopback = proxyaddr.compile('loopback');

/**
 * The client address with the same trust the demo apps give their framework: the socket
 * address, or with `TRUST_PROXY=loopback` the address a proxy on this machine forwarded
 * (proxy-addr is what Express and Fastify use for their own `trust proxy` settings).
 */
function clientIp(trustProxy: DemoOptions['trustProxy']): (req: IncomingMessage) => string | undefined {
  if (trustProxy === 'loopback') return (req) => proxyaddr(req, trustLoopback);
  return (req) => req.socket.remoteAddress;
}

/** Serves the demo protocol on `/ws` of `server`, limited by the demo's one `limiter`. */
export function attachDemoWebSockets(server: Server, limiter: RateLimiter, options: DemoOptions = {}): DemoWebSockets {
  const guard = webSocketGuard({ limiter, clientIp: clientIp(options.trustProxy) });
  const wss = new WebSocketServer({ noServer: true, ...guard.serverOptions });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== webSocketPath) {
      refuseUpgrade(socket, { status: 404, body: notFoundBody });
      return;
    }
    guard.handleUpgrade(wss, req, socket, head, serveDemoProtocol);
  });
  return { guard, close: () => guard.close() };
}

function serveDemoProtocol(conn: GuardedConnection): void {
  const reply = (message: unknown) => conn.send(JSON.stringify(message));
  const error = (code: string, message: string, details?: Record<string, unknown>) =>
    reply({ type: 'error', ...conn.errorBody(code, message, details) });

  conn.on('message', (data, isBinary) => {
    let message: unknown;
    try {
      message = isBinary ? undefined : JSON.parse(data.toString());
    } catch {
      message = undefined;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      error('INVALID_MESSAGE', 'Expected a JSON object with a `type`.');
      return;
    }
    const { type, channel } = message as { type?: unknown; channel?: unknown };
    if (type === 'event') {
      reply({ type: 'ack' });
      return;
    }
    if (type !== 'subscribe' && type !== 'unsubscribe') {
      error('INVALID_MESSAGE', 'Expected `type` to be "subscribe", "unsubscribe" or "event".');
      return;
    }
    if (typeof channel !== 'string' || channel.length === 0 || channel.length > 200) {
      error('INVALID_MESSAGE', 'Expected `channel` to be a string of 1 to 200 characters.');
      return;
    }
    if (type === 'unsubscribe') {
      conn.unsubscribe(channel);
      reply({ type: 'unsubscribed', channel });
    } else if (conn.subscribe(channel)) {
      reply({ type: 'subscribed', channel });
    } else {
      error(
        'TOO_MANY_SUBSCRIPTIONS',
        `At most ${conn.maxSubscriptions} subscriptions per connection; unsubscribe from one first.`,
        { limit: conn.maxSubscriptions, channel },
      );
    }
  });
}
