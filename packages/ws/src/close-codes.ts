/**
 * WebSocket close codes the guard uses (RFC 6455 section 7.4.1 and the IANA registry), in
 * one place so the README, the code and a client's reconnect logic agree.
 */
export const CloseCode = Object.freeze({
  /** The server is shutting down (`guard.close()`). Reconnect, to another instance if there is one. */
  GOING_AWAY: 1001,
  /** Too many messages over the rate limit (`violations`). Reconnecting at once will not help: slow down. */
  POLICY_VIOLATION: 1008,
  /** A message larger than `maxPayload` (after inflating, with permessage-deflate). Sent by `ws` itself. */
  MESSAGE_TOO_BIG: 1009,
  /** The app's code threw or rejected (`onConnection`, or a listener on the connection) and `onError` is the default. */
  INTERNAL_ERROR: 1011,
  /**
   * The connection's lease lapsed (the heartbeat could not renew it in time) and the API
   * key's connection cap was full when the guard tried to take a new one; or a connection
   * admitted while the lease store was failing found the cap full once the store was back.
   */
  TRY_AGAIN_LATER: 1013,
});

/** One of {@link CloseCode}'s values. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
