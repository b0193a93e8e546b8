/**
 * Giving back concurrency slots when a response is done, for every adapter: Express, Koa
 * and Fastify all answer on Node's `http.ServerResponse`, whose `close` event fires once,
 * when the response has finished or its connection closed first (a client that aborts,
 * a handler that throws and gets its 500). A decision without slots costs one property read.
 */
import type { Decision } from './decision.js';

/** The part of Node's `http.ServerResponse` this needs. */
export interface ClosableResponse {
  once(event: 'close', listener: () => void): unknown;
  /** Node 18.13+: the response has closed. */
  readonly closed?: boolean;
  readonly destroyed?: boolean;
}

/** Releases `decision`'s concurrency slots when `response` closes (at once if it already has). */
export function releaseOnClose(decision: Decision, response: ClosableResponse): void {
  if (!decision.inFlight) return;
  if (response.closed === true || response.destroyed === true) {
    decision.release();
    return;
  }
  response.once('close', () => decision.release());
}
