/**
 * Client addresses that used up their unknown-key budget, remembered in process until
 * that budget refills, so their next guesses are answered without calling the tier
 * resolver (and without a negative-cache entry per guessed key). Bounded: the oldest
 * entry goes first when full. The store remains the authority: this only skips the
 * resolver, and the answer still comes from the store's count.
 */
export class Guessers {
  readonly #until = new Map<string, number>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  block(ipIdentity: string, until: number): void {
    this.#until.delete(ipIdentity);
    if (this.#until.size >= this.#max) {
      const oldest = this.#until.keys().next();
      if (!oldest.done) this.#until.delete(oldest.value);
    }
    this.#until.set(ipIdentity, until);
  }

  blocked(ipIdentity: string, now: number): boolean {
    const until = this.#until.get(ipIdentity);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#until.delete(ipIdentity);
    return false;
  }

  clear(ipIdentity?: string): void {
    if (ipIdentity === undefined) this.#until.clear();
    else this.#until.delete(ipIdentity);
  }
}
