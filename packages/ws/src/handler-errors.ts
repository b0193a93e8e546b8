/**
 * Where errors from the app's own code on a connection go: the `onConnection` handler, or
 * a listener on the connection's events, that throws or returns a promise that rejects.
 *
 * Why (issue 13): those listeners run inside `ws`'s socket `data` listener, so before this
 * one non-JSON frame sent to a handler doing a bare `JSON.parse` was an uncaught exception
 * that took the whole process down, and every other client with it. Now each such error
 * goes to the guard's `onError`; by default that is one warning and a 1011 close of the
 * connection concerned, and nothing escapes to the process.
 */
import type { Warning } from '@tierlimit/core';
import { CloseCode } from './close-codes.js';

/** Receives an error thrown (or a rejection returned) by the app's code on `conn`. */
export type HandlerErrorRoute<C> = (error: unknown, conn: C) => void;

/** What the default route needs from a connection; structural, so this file imports no connection. */
interface Closable {
  close(code?: number, reason?: string): void;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Calls `call`; a throw, or a rejection of the promise it returns, goes to `failed`.
 * Never throws and leaves no rejection unhandled, as long as `failed` never throws.
 */
export function callSafely(call: () => unknown, failed: (error: unknown) => void): void {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    failed(error);
    return;
  }
  if (!isThenable(result)) return;
  try {
    result.then(undefined, failed);
  } catch (error) {
    // A hand-made thenable whose `then` throws: still the app's error, still not a crash.
    failed(error);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
}

/**
 * The route the guard runs on: the user's `onError`, made safe, or the default (a
 * `TL_WS_HANDLER_FAILED` warning and a 1011 close). An `onError` that itself throws or
 * rejects falls back to the default for that connection: it must not crash either.
 */
export function resolveHandlerErrorRoute<C extends Closable>(
  onError: HandlerErrorRoute<C> | undefined,
  warn: (warning: Warning) => void,
): HandlerErrorRoute<C> {
  const closeWithInternalError: HandlerErrorRoute<C> = (error, conn) => {
    warn({
      code: 'TL_WS_HANDLER_FAILED',
      message: `your code on a WebSocket connection (the connection handler or a listener on the connection) threw or rejected (${describe(error)}); that connection was closed with 1011. Pass \`onError\` to the guard to handle each such error yourself; this warning is reported once.`,
      error,
    });
    try {
      conn.close(CloseCode.INTERNAL_ERROR, 'internal error');
    } catch {
      // ws's close never throws for an open, closing or closed socket with a valid code; if
      // a future version did, the process must still not go down for one connection.
    }
  };
  if (onError === undefined) return closeWithInternalError;
  return (error, conn) => {
    callSafely(
      () => onError(error, conn),
      (failure) => closeWithInternalError(failure, conn),
    );
  };
}
