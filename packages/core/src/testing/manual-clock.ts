/**
 * A clock a test moves by hand, for stores that take their clock in their options
 * (`memoryStore({ now })`, the Redis store's `now`): windows then move without sleeping.
 */
export class ManualClock {
  /**
   * 2025-01-21T10:00:00Z: on a whole minute and hour, so 60-second windows and one-hour
   * calendar periods of the store suite start exactly here.
   */
  static readonly START = Date.UTC(2025, 0, 21, 10, 0, 0);

  /** The time it shows, ms since the epoch; set it to jump. */
  time: number;

  constructor(start = ManualClock.START) {
    this.time = start;
  }

  /** The time in ms since the epoch: pass it as a store's `now` (it needs no `this`). */
  readonly now = (): number => this.time;

  /** Moves the clock by `ms` (negative: backwards). */
  advance(ms: number): void {
    this.time += ms;
  }
}
