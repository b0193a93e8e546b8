/**
 * A local fake of an API like Customer.io's Track API (issue 16): `PUT
 * /api/v1/customers/<id>` with HTTP basic auth (site id : API key), a sliding-window limit
 * per workspace (the site id) of `limit` calls per `windowMs`, counted over the exact
 * times of the calls it accepted, and a 429 with `Retry-After` (whole seconds, at least 1:
 * until the oldest call in the window leaves it) when a call would exceed it. It sends no
 * rate-limit headers, as Customer.io does not, and records every call it accepted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTrackApiOptions {
  /** Calls accepted per window and workspace. Default 100. */
  readonly limit?: number;
  /** The sliding window, in ms. Default 1,000. */
  readonly windowMs?: number;
}

export class FakeTrackApi {
  /** Times each call (`<workspace>/<customer id>`) was accepted. */
  readonly accepted = new Map<string, number>();
  /** Requests answered, by status. */
  readonly statuses = new Map<number, number>();
  readonly #limit: number;
  readonly #windowMs: number;
  /** Accepted call times per workspace, oldest first (performance.now()). */
  readonly #windows = new Map<string, number[]>();
  readonly #server: Server;
  url = '';

  private constructor(options: FakeTrackApiOptions) {
    this.#limit = options.limit ?? 100;
    this.#windowMs = options.windowMs ?? 1_000;
    this.#server = createServer((req, res) => {
      req.resume();
      req.once('end', () => this.#handle(req, res));
    });
  }

  static async start(options: FakeTrackApiOptions = {}): Promise<FakeTrackApi> {
    const api = new FakeTrackApi(options);
    await new Promise<void>((resolve) => api.#server.listen(0, '127.0.0.1', resolve));
    api.url = `http://127.0.0.1:${(api.#server.address() as AddressInfo).port}`;
    return api;
  }

  /** Requests answered with `status`. */
  count(status: number): number {
    return this.statuses.get(status) ?? 0;
  }

  /** Calls of `workspace` accepted, and how many of them more than once. */
  acceptedFor(workspace: string): { calls: number; duplicates: number } {
    let calls = 0;
    let duplicates = 0;
    for (const [call, times] of this.accepted) {
      if (!call.startsWith(`${workspace}/`)) continue;
      calls++;
      if (times > 1) duplicates++;
    }
    return { calls, duplicates };
  }

  reset(): void {
    this.accepted.clear();
    this.statuses.clear();
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const match = /^\/api\/v1\/customers\/([^/?]+)$/.exec(req.url ?? '');
    if (req.method !== 'PUT' || match === null) {
      this.#answer(res, 404, { meta: { error: 'not found' } });
      return;
    }
    const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const workspace = auth
      ? Buffer.from(auth[1] as string, 'base64')
          .toString()
          .split(':')[0]
      : undefined;
    if (!workspace) {
      this.#answer(res, 401, { meta: { error: 'unauthorized' } });
      return;
    }
    const now = performance.now();
    let window = this.#windows.get(workspace);
    if (window === undefined) {
      window = [];
      this.#windows.set(workspace, window);
    }
    while (window.length > 0 && now - (window[0] as number) >= this.#windowMs) window.shift();
    if (window.length >= this.#limit) {
      const retryAfter = Math.max(1, Math.ceil(((window[0] as number) + this.#windowMs - now) / 1_000));
      this.#answer(res, 429, { meta: { error: 'rate limited' } }, { 'retry-after': String(retryAfter) });
      return;
    }
    window.push(now);
    const call = `${workspace}/${decodeURIComponent(match[1] as string)}`;
    this.accepted.set(call, (this.accepted.get(call) ?? 0) + 1);
    this.#answer(res, 200, {});
  }
}
