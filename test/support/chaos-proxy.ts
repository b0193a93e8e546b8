/**
 * An HTTP proxy on 127.0.0.1 that misbehaves on purpose, deterministically (a seeded
 * random source): some requests get a 503, some are dropped before reaching the server,
 * and some are forwarded and then dropped after the server answered, so the client sees a
 * network error for a request that did take effect (the case idempotency exists for).
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from './random';

export interface ChaosOptions {
  /** Fraction of requests answered 503 by the proxy. */
  readonly unavailable: number;
  /** Fraction dropped before the server sees them. */
  readonly dropBefore: number;
  /** Fraction forwarded, then dropped before the client gets the answer. */
  readonly dropAfter: number;
  readonly seed: number;
}

export interface ChaosStats {
  forwarded: number;
  unavailable: number;
  droppedBefore: number;
  droppedAfter: number;
}

export async function startChaosProxy(
  upstream: string,
  options: ChaosOptions,
): Promise<{ url: string; stats: ChaosStats; close(): Promise<void> }> {
  const target = new URL(upstream);
  const next = seededRandom(options.seed);
  const stats: ChaosStats = { forwarded: 0, unavailable: 0, droppedBefore: 0, droppedAfter: 0 };
  const server: Server = createServer((req, res) => {
    const roll = next();
    if (roll < options.unavailable) {
      stats.unavailable++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE', message: 'chaos proxy' } }));
      return;
    }
    if (roll < options.unavailable + options.dropBefore) {
      stats.droppedBefore++;
      req.socket.destroy();
      return;
    }
    const dropAfter = roll < options.unavailable + options.dropBefore + options.dropAfter;
    const forward = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamResponse) => {
        stats.forwarded++;
        if (dropAfter) {
          stats.droppedAfter++;
          upstreamResponse.resume();
          upstreamResponse.once('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
