/**
 * Writes a plain HTTP response on the raw socket of an upgrade request, before any
 * `101 Switching Protocols`: the only way to refuse a WebSocket handshake with a status,
 * headers and a body a client can read. What the status, headers and body are is decided
 * elsewhere (core renders decisions); this file only puts bytes on the wire.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Duplex } from 'node:stream';

/** An HTTP response to an upgrade request. */
export interface UpgradeResponse {
  /** HTTP status, 400-599. */
  readonly status: number;
  /** Response headers. `Content-Length` and `Connection: close` are set for you, and `Content-Type` defaults to JSON. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Body, sent as JSON. */
  readonly body?: unknown;
}

/** How long a refused client gets to read the response before the socket is destroyed, in ms. */
const LINGER_MS = 5_000;

function ignoreError(): void {}

/**
 * Answers an upgrade request with `response` (a JSON body, `Connection: close`) and ends
 * the socket. Use it for your own refusals (a 404 for an unknown path, a 403) so they come
 * in the same shape as the guard's.
 */
export function refuseUpgrade(socket: Duplex, response: UpgradeResponse): void {
  const { status, headers = {}, body } = response;
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new TypeError(`Expected the upgrade response status to be an integer from 400 to 599, got ${status}.`);
  }
  const payload = body === undefined ? '' : JSON.stringify(body);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`];
  let contentType = 'application/json; charset=utf-8';
  for (const [name, value] of Object.entries(headers)) {
    // Throws on CR, LF or other characters that could split the response.
    validateHeaderName(name);
    validateHeaderValue(name, value);
    const lower = name.toLowerCase();
    // A JSON variant chosen by the renderer (application/problem+json) is kept.
    if (lower === 'content-type') contentType = value;
    else if (lower !== 'content-length' && lower !== 'connection') lines.push(`${name}: ${value}`);
  }
  lines.push(`Content-Type: ${contentType}`, `Content-Length: ${Buffer.byteLength(payload)}`, 'Connection: close');
  // Node removes its own error listener before 'upgrade': without one, a reset while we
  // write would be an uncaught 'error' event. The socket is destroyed either way.
  socket.on('error', ignoreError);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  // Like ws's own abortHandshake: end, then destroy once flushed. A client that never reads
  // would keep the socket open, so it gets a bounded time to do so.
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${payload}`);
}
