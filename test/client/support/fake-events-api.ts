/**
 * An in-memory events API behind a fake `fetch`, behaving like the demo servers
 * (examples/*): X-API-Key auth, a token bucket per key for the events endpoints (cost =
 * number of events, capacity = burst), X-RateLimit-* headers, 429 with Retry-After, 413
 * BATCH_TOO_LARGE, 400 INVALID_EVENT for the whole batch, and dedupe by event id. Its
 * clock is the test's VirtualTime, so nothing waits for real.
 */
import type { VirtualTime } from './virtual-time';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly apiKey: string | null;
  /** Events carried (batch: the array; single: one), or undefined for GET. */
  readonly events: readonly Record<string, unknown>[] | undefined;
  status?: number;
}

/** A one-shot override of the next request: return a Response or an Error to throw, or undefined to handle it normally. */
export type Interceptor = (
  request: RecordedRequest,
  api: FakeEventsApi,
) => Response | Error | 'hang' | 'lose' | undefined;

export interface FakeEventsApiOptions {
  readonly clock: VirtualTime;
  /** Bucket capacity (events). Default 50 (free tier). */
  readonly burst?: number;
  /** Refill, events per minute. Default 500 (free tier). */
  readonly perMinute?: number;
  /** Send X-RateLimit-* headers. Default true. */
  readonly headers?: boolean;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return {
    error: {
      code,
      message,
      ...(details === undefined ? {} : { details }),
      requestId: 'req-test',
      timestamp: '2025-01-21T10:00:00Z',
    },
  };
}

export class FakeEventsApi {
  readonly requests: RecordedRequest[] = [];
  /** Stored events by id, in arrival order. */
  readonly stored = new Map<string, Record<string, unknown>>();
  duplicates = 0;
  readonly interceptors: Interceptor[] = [];
  readonly validKeys = new Set(['demo-free']);
  tokens: number;
  #updatedAt: number;
  readonly #clock: VirtualTime;
  readonly burst: number;
  readonly #perMs: number;
  readonly #headers: boolean;

  constructor(options: FakeEventsApiOptions) {
    this.#clock = options.clock;
    this.burst = options.burst ?? 50;
    this.#perMs = (options.perMinute ?? 500) / 60_000;
    this.#headers = options.headers ?? true;
    this.tokens = this.burst;
    this.#updatedAt = this.#clock.now();
  }

  /** Requests that reached the rate limiter and were denied. */
  get rateLimited(): number {
    return this.requests.filter((r) => r.status === 429).length;
  }

  #refill(): void {
    const now = this.#clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.#updatedAt) * this.#perMs);
    this.#updatedAt = now;
  }

  #rateHeaders(): Record<string, string> {
    if (!this.#headers) return {};
    const now = this.#clock.now();
    return {
      'X-RateLimit-Limit': String(this.burst),
      'X-RateLimit-Remaining': String(Math.floor(this.tokens)),
      'X-RateLimit-Reset': String(Math.ceil((now + (this.burst - this.tokens) / this.#perMs) / 1000)),
    };
  }

  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const method = init.method ?? 'GET';
    let body: unknown;
    if (typeof init.body === 'string') body = JSON.parse(init.body);
    const events =
      url.pathname === '/api/v1/events/batch'
        ? ((body as { events?: Record<string, unknown>[] }).events ?? [])
        : url.pathname === '/api/v1/events' && method === 'POST'
          ? [body as Record<string, unknown>]
          : undefined;
    const request: RecordedRequest = { method, path: url.pathname, apiKey: headers.get('x-api-key'), events };
    this.requests.push(request);
    init.signal?.throwIfAborted();

    const interceptor = this.interceptors.shift();
    const override = interceptor?.(request, this);
    if (override === 'hang') {
      return new Promise<Response>((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      });
    }
    if (override instanceof Error) throw override;
    if (override instanceof Response) {
      request.status = override.status;
      return override;
    }
    const response = this.#handle(request);
    request.status = response.status;
    // A lost response: the server did the work, the client never hears back.
    if (override === 'lose') throw new TypeError('fetch failed');
    return response;
  };

  #handle(request: RecordedRequest): Response {
    if (request.apiKey === null || !this.validKeys.has(request.apiKey)) {
      return json(401, errorBody('UNAUTHORIZED', 'A valid API key is required.'));
    }
    if (request.method === 'GET' && request.path === '/api/v1/events/stats') {
      return json(200, { received: this.stored.size, duplicates: this.duplicates });
    }
    const { events } = request;
    if (events === undefined) return json(404, errorBody('NOT_FOUND', 'No such endpoint.'));
    for (let i = 0; i < events.length; i++) {
      const name = events[i]?.name;
      if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
        // Like the demos: validation happens before the limiter charges anything; the IP policy is reported.
        return json(
          400,
          errorBody('INVALID_EVENT', `Expected events[${i}].name to be a string of 1 to 200 characters.`),
          {
            'X-RateLimit-Limit': '10000',
            'X-RateLimit-Remaining': '9999',
            'X-RateLimit-Reset': String(Math.ceil(this.#clock.now() / 1000) + 60),
          },
        );
      }
    }
    this.#refill();
    const cost = events.length;
    if (cost > this.burst) {
      return json(
        413,
        errorBody('BATCH_TOO_LARGE', `This request costs ${cost} but the limit allows at most ${this.burst} at once.`, {
          cost,
          limit: this.burst,
          policy: 'events',
        }),
        this.#rateHeaders(),
      );
    }
    if (this.tokens < cost) {
      const retryAfter = Math.max(1, Math.ceil((cost - this.tokens) / this.#perMs / 1000));
      return json(
        429,
        errorBody('RATE_LIMITED', `Rate limit exceeded. Retry after ${retryAfter} seconds.`, { retryAfter }),
        {
          ...this.#rateHeaders(),
          'Retry-After': String(retryAfter),
        },
      );
    }
    this.tokens -= cost;
    let accepted = 0;
    let duplicates = 0;
    for (const event of events) {
      const id = event.id;
      if (typeof id === 'string' && this.stored.has(id)) {
        duplicates++;
        continue;
      }
      this.stored.set(typeof id === 'string' ? id : `anonymous-${this.stored.size}`, event);
      accepted++;
    }
    this.duplicates += duplicates;
    return json(202, { accepted, duplicates }, this.#rateHeaders());
  }
}
