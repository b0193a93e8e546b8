/**
 * One error base class with a stable `code`, and a subclass per kind of failure, so
 * callers can tell a configuration mistake from a store outage from a client's bad
 * request without parsing messages.
 */

/**
 * Brand for RequestError that survives the dual-package hazard: when an app loads the ESM
 * build and a dependency the CJS build, there are two RequestError classes and
 * `instanceof` fails across them. `Symbol.for` is shared by both.
 */
const REQUEST_ERROR = Symbol.for('tierlimit.RequestError');

/** Base class of every error tierlimit throws. */
export class TierlimitError extends Error {
  /** Stable, machine-readable code (for example `TL_CONFIG` or `INVALID_BATCH`). */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A fatal configuration mistake, thrown at construction (or, for a deployment setting only
 * visible later, as early as the framework allows). `code` is `TL_CONFIG`, or the stable
 * code of the deployment check that failed (`TL_PERMISSIVE_TRUST_PROXY`).
 */
export class ConfigurationError extends TierlimitError {
  constructor(message: string, code = 'TL_CONFIG') {
    super(code, message);
  }
}

/** The store could not answer (unreachable, timed out, returned garbage). Never a 429. */
export class StoreError extends TierlimitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TL_STORE', message, options);
  }
}

/**
 * Something the client got wrong (a malformed API key, a body that is not JSON, a batch
 * that is not an array). Rendered as a 4xx response in the JSON error shape.
 *
 * Throw it from a route's `cost` function to reject a request as bad input.
 */
export class RequestError extends TierlimitError {
  /** HTTP status, 400-499. */
  readonly status: number;
  /** Extra fields for the body's `details`. Never put secrets here: they reach the client. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly [REQUEST_ERROR] = true;

  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message);
    if (!Number.isInteger(status) || status < 400 || status > 499) {
      throw new TypeError(`Expected RequestError status to be an integer from 400 to 499, got ${status}.`);
    }
    this.status = status;
    this.details = details;
  }
}

/** True for a RequestError from any copy of this package (ESM or CJS build). */
export function isRequestError(value: unknown): value is RequestError {
  return (
    typeof value === 'object' && value !== null && (value as { [REQUEST_ERROR]?: unknown })[REQUEST_ERROR] === true
  );
}
