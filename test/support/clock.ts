/** A clock the test moves by hand: 2025-01-21T10:00:00Z to start, on a whole second. */
export class ManualClock {
  static readonly START = Date.UTC(2025, 0, 21, 10, 0, 0);
  time: number;

  constructor(start = ManualClock.START) {
    this.time = start;
  }

  readonly now = (): number => this.time;

  advance(ms: number): void {
    this.time += ms;
  }
}
