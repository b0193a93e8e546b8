/**
 * Client addresses that used up their unknown-key budget, remembered in process until
 * that budget refills, so their next guesses are answered without calling the tier
 * resolver (and without a negative-cache entry per guessed key). Bounded: the oldest
 * entry goes first when full. The store remains the authority: this only skips the
 * resolver, and the answer still comes from the store's count.
 *
 * Valid keys keep working from a blocked address (issue 13: one key-guesser behind an
 * office NAT locked out everyone there): a key this process has seen resolve to a tier is
 * resolved as usual, and any other key gets one resolver lookup per `probeIntervalMs` per
 * address (the unknown-key budget's own pace), so a valid key never seen here gets
 * through within that interval while guesses stay refused.
 */
export class Guessers {
  readonly #until = new Map<string, number>();
  /** When a blocked address may next ask the resolver about a key it was not seen with. */
  readonly #nextProbe = new Map<string, number>();
  /** Hashed identities of keys that resolved to a tier (never raw keys). */
  readonly #known = new Set<string>();
  readonly #max: number;
  readonly #maxKnown: number;

  constructor(max = 10_000, maxKnown = 100_000) {
    this.#max = max;
    this.#maxKnown = maxKnown;
  }

  block(ipIdentity: string, until: number): void {
    this.#until.delete(ipIdentity);
    if (this.#until.size >= this.#max) {
      const oldest = this.#until.keys().next();
      if (!oldest.done) {
        this.#until.delete(oldest.value);
        this.#nextProbe.delete(oldest.value);
      }
    }
    this.#until.set(ipIdentity, until);
  }

  blocked(ipIdentity: string, now: number): boolean {
    const until = this.#until.get(ipIdentity);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#until.delete(ipIdentity);
    this.#nextProbe.delete(ipIdentity);
    return false;
  }

  /** Whether a blocked address may ask the resolver about one key now; taking the chance spends it. */
  probe(ipIdentity: string, now: number, intervalMs: number): boolean {
    const next = this.#nextProbe.get(ipIdentity);
    if (next !== undefined && now < next) return false;
    this.#nextProbe.set(ipIdentity, now + intervalMs);
    return true;
  }

  /** A key (by hashed identity) that resolved to a tier. */
  remember(keyIdentity: string): void {
    if (this.#known.has(keyIdentity)) return;
    if (this.#known.size >= this.#maxKnown) {
      // Drop the oldest tenth in one pass (see TierCache for why not one at a time).
      let evict = Math.ceil(this.#maxKnown / 10);
      for (const key of this.#known) {
        this.#known.delete(key);
        if (--evict === 0) break;
      }
    }
    this.#known.add(keyIdentity);
  }

  knows(keyIdentity: string): boolean {
    return this.#known.has(keyIdentity);
  }

  clear(ipIdentity?: string): void {
    if (ipIdentity === undefined) {
      this.#until.clear();
      this.#nextProbe.clear();
    } else {
      this.#until.delete(ipIdentity);
      this.#nextProbe.delete(ipIdentity);
    }
  }
}
