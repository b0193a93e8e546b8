/**
 * One error base class with a stable `code`, and a subclass per kind of failure, so
 * callers branch on `error.code` (or `instanceof`) instead of parsing messages. This is
 * the client's own hierarchy: the client has no runtime dependency on `@tierlimit/core`
 * (which imports `node:` modules and could not run in a browser).
 */

/** Base class of every error the client throws or reports. */
export class TierlimitClientError extends Error {
  /** Stable, machine-readable code, for example `RETRY_AFTER_TOO_LONG` or `INVALID_EVENT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A fatal configuration mistake, thrown at construction (`TL_CLIENT_CONFIG`). */
export class ClientConfigError extends TierlimitClientError {
  constructor(message: string) {
    super('TL_CLIENT_CONFIG', message);
  }
}

/**
 * The server asked for a wait (`Retry-After`) longer than `maxRetryAfterMs`. Thrown
 * instead of sleeping, so a daily quota that is exhausted fails in milliseconds rather
 * than holding a worker for an hour. `response` is unread: read or cancel its body.
 */
export class RetryAfterTooLongError extends TierlimitClientError {
  /** The response that carried the `Retry-After`. */
  readonly response: Response;
  /** The wait the server asked for, in ms. */
  readonly waitMs: number;
  /** The configured limit it exceeded, in ms. */
  readonly maxRetryAfterMs: number;

  constructor(response: Response, waitMs: number, maxRetryAfterMs: number) {
    super(
      'RETRY_AFTER_TOO_LONG',
      `The server asked to retry after ${Math.ceil(waitMs / 1000)} s (HTTP ${response.status}), longer than \`maxRetryAfterMs\` (${maxRetryAfterMs} ms); giving up instead of waiting.`,
    );
    this.response = response;
    this.waitMs = waitMs;
    this.maxRetryAfterMs = maxRetryAfterMs;
  }
}

/**
 * The API answered with an error status that was not (or no longer) retried. `code` is
 * the body's `error.code` when the body has the tierlimit error shape
 * (`RATE_LIMITED`, `INVALID_EVENT`, `BATCH_TOO_LARGE`...), else `HTTP_<status>`.
 */
export class ApiError extends TierlimitClientError {
  /** HTTP status of the response. */
  readonly status: number;
  /** The body's `error.details`, when present. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** The body's `error.requestId` (or the `X-Request-Id` header), for support tickets. */
  readonly requestId: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { details?: Readonly<Record<string, unknown>> | undefined; requestId?: string | undefined } = {},
  ) {
    super(code, message);
    this.status = status;
    this.details = extra.details;
    this.requestId = extra.requestId;
  }
}

/**
 * An event rejected before sending because it could never be accepted (not an object,
 * no `name`, not serialisable as JSON). Shares the server's code, `INVALID_EVENT`, so
 * one branch handles both.
 */
export class EventValidationError extends TierlimitClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_EVENT', message, options);
  }
}

/** A client-side token bucket was asked for more tokens than it can ever hold (`TL_COST_EXCEEDS_BURST`). */
export class CostExceedsBurstError extends TierlimitClientError {
  constructor(cost: number, burst: number) {
    super(
      'TL_COST_EXCEEDS_BURST',
      `Asked for ${cost} tokens but the bucket holds at most ${burst}; this can never succeed.`,
    );
  }
}
