/**
 * The clock of the limiter's own default memory store. While the limiter hands that store
 * a request's checks, the store reads the time the limiter already read for the request
 * (one clock read per decision instead of two: a clock read costs about as much as the
 * rest of a store call); at any other time (the background sweep, operator calls) it
 * reads the clock itself. A store passed in by the user keeps its own clock.
 */
export class PinnableClock {
  readonly #source: () => number;
  #pinned = false;
  #time = 0;

  constructor(source: () => number) {
    this.#source = source;
  }

  /** The pinned time while pinned, else the source clock. */
  readonly now = (): number => (this.#pinned ? this.#time : this.#source());

  pin(time: number): void {
    this.#time = time;
    this.#pinned = true;
  }

  unpin(): void {
    this.#pinned = false;
  }
}
