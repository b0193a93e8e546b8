/**
 * Step: the client's address, as the limiter keys it: the framework's (or, with
 * `trustedProxies`, the one found behind those proxies), canonical, IPv6 grouped by
 * subnet, with the per-IP limit's charge built once per address.
 */
import { forwardedClient, ipIdentity } from '../client-ip.js';
import { ipIdentityKey } from '../identity.js';
import type { ResolvedLimit } from '../limits.js';
import { storageKey } from '../namespaces.js';
import type { ResolvedOptions } from '../validate-options.js';
import { chargeOf, penaltyOf } from './charges.js';
import type { Address, RequestFacts } from './request.js';

/**
 * Remembers what an address string maps to (validation, IPv4 folding, IPv6 prefix, the
 * per-IP charge with its storage key and penalty), so a client's next requests cost one
 * map lookup instead of a parse, four string concatenations and three objects. Bounded:
 * cleared when full, which keeps the work per request constant under a flood of new
 * addresses.
 */
export class AddressCache {
  readonly #entries = new Map<string, Address>();
  readonly #options: ResolvedOptions;
  readonly #unknown: Address;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#unknown = this.#make(undefined);
  }

  #make(ip: string | undefined): Address {
    const identity = ipIdentityKey(ip ?? '?');
    const penalty = penaltyOf(this.#options.suspension, identity);
    const limit: ResolvedLimit | false = this.#options.ip;
    return {
      identity,
      usable: ip !== undefined,
      // The per-IP limit is a window (never a calendar quota), so its charge never needs renewing.
      charge: limit === false ? undefined : chargeOf(limit, storageKey(limit.key, identity), identity, 1, penalty, 0),
      penalty,
      anonymous: undefined,
      last: undefined,
    };
  }

  get(address: string | undefined): Address {
    if (address === undefined) return this.#unknown;
    let entry = this.#entries.get(address);
    if (entry === undefined) {
      entry = this.#make(ipIdentity(address, this.#options.ipv6Subnet));
      if (this.#entries.size >= 10_000) this.#entries.clear();
      this.#entries.set(address, entry);
    }
    return entry;
  }

  /**
   * The request's client address: the framework's (or the one behind `trustedProxies`); if
   * that cannot be parsed, the connection's peer address, so an unparsable address never
   * puts a client in a bucket shared with others.
   */
  of(facts: RequestFacts): Address {
    const options = this.#options;
    const trusted = options.trustedProxies;
    const reported =
      trusted === undefined ? facts.ip : forwardedClient(facts.peer, facts.headers['x-forwarded-for'], trusted);
    const address = this.get(reported);
    const peer = facts.peer;
    if (address.usable || peer === undefined || reported === peer) return address;
    if (reported !== undefined && options.validations.unparsableClientIp) {
      options.warnings.once({
        code: 'TL_UNPARSABLE_CLIENT_IP',
        message: `the client address ${JSON.stringify(reported.slice(0, 64))} could not be parsed; using the connection's peer address instead, so such clients never share a bucket. Check what your proxy writes into X-Forwarded-For. Turn this check off with validations.unparsableClientIp: false.`,
      });
    }
    return this.get(peer);
  }
}
