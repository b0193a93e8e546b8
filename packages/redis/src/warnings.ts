/**
 * The store's warning codes. Each is reported once per episode (core's `createWarner`,
 * issue 13): the first time its condition shows, and again only after the condition was
 * seen to end, so a second outage hours later is logged too.
 */

/** The codes, each with what ends its episode. */
export const WARNING = {
  /** The client's settings can hang or count twice; once per store (settings do not change). */
  unsafeClient: 'TL_REDIS_UNSAFE_CLIENT',
  /** A connection error (from a client the store made); re-armed when the client is ready again. */
  connection: 'TL_REDIS_ERROR',
  /** A refund failed; re-armed by the next refund that succeeds. */
  refundFailed: 'TL_REDIS_REFUND_FAILED',
  /** A master may evict tierlimit keys; re-armed when every master is seen without that risk. */
  eviction: 'TL_REDIS_EVICTION',
} as const;
