/**
 * Checks of the deployment that only show on live requests (or, for Fastify, at plugin
 * registration), each with a stable code and each switchable off (`validations` option),
 * in the spirit of express-rate-limit's validations:
 *
 * - `TL_PERMISSIVE_TRUST_PROXY`: every proxy is trusted (Express `trust proxy: true`, Koa
 *   `proxy: true` without `maxIpsCount`, Fastify `trustProxy: true`). The framework then
 *   takes the left-most X-Forwarded-For entry, which the client writes itself, so any
 *   client can pick its own rate-limit identity. With `'error'` it is fatal (issue 13).
 * - `TL_HOP_COUNT_TRUST`: proxies are trusted by hop count, not address (Koa `maxIpsCount`,
 *   a number for Express or Fastify): a client that reaches the app directly, not through
 *   the proxy, still picks its address. `trustedProxies` fixes it.
 * - `TL_UNTRUSTED_FORWARDED_FOR`: requests carry X-Forwarded-For but no proxy is trusted.
 *   Behind a load balancer every client then shares the balancer's address and one IP
 *   bucket. (Harmless if clients add the header themselves and you have no proxy.)
 * - `TL_NO_CLIENT_IP`: a request had no usable client address; such requests share one
 *   bucket.
 *
 * Deployment settings are reported once per process (many limiters see the same app);
 * once every enabled check has fired, `pending` turns false and the hot path skips them.
 */
import { ConfigurationError } from './errors.js';
import type { RequestHeaders } from './identity.js';
import type { Warner } from './warnings.js';

/** Which runtime checks are on; each defaults to `true`. */
export interface RuntimeValidations {
  readonly permissiveTrustProxy: boolean | 'error';
  readonly hopCountTrust: boolean;
  readonly untrustedForwardedFor: boolean;
  readonly noClientIp: boolean;
  readonly unparsableClientIp: boolean;
}

/**
 * How a framework trusts proxies: `none` (proxy headers ignored), `some` (specific proxy
 * addresses, or a function), `hops` (a number of hops, whoever sent them), `all` (every
 * proxy trusted: the client picks its own address).
 */
export type TrustProxyKind = 'none' | 'some' | 'hops' | 'all';

/**
 * Classifies a trust-proxy setting of the form Express (`trust proxy`) and Fastify
 * (`trustProxy`) share: `true` trusts every proxy; `false`, `undefined` or `0` none; a
 * positive number that many hops; anything else (addresses, presets like `'loopback'`, a
 * function) some.
 */
export function trustProxyKind(setting: unknown): TrustProxyKind {
  if (setting === true) return 'all';
  if (setting === false || setting === undefined || setting === 0) return 'none';
  return typeof setting === 'number' ? 'hops' : 'some';
}

export class RuntimeChecks {
  readonly #todo: { permissive: boolean; hops: boolean; untrusted: boolean; noIp: boolean };
  readonly #fatal: boolean;
  readonly #warnings: Warner;
  pending: boolean;

  /** `ownTrust`: the limiter finds client addresses itself (`trustedProxies`), so the framework's setting does not matter. */
  constructor(validations: RuntimeValidations, warnings: Warner, ownTrust: boolean) {
    this.#fatal = validations.permissiveTrustProxy === 'error' && !ownTrust;
    this.#todo = {
      permissive: validations.permissiveTrustProxy !== false && !ownTrust,
      hops: validations.hopCountTrust && !ownTrust,
      untrusted: validations.untrustedForwardedFor && !ownTrust,
      noIp: validations.noClientIp,
    };
    this.#warnings = warnings;
    this.pending = this.#todo.permissive || this.#todo.hops || this.#todo.untrusted || this.#todo.noIp;
  }

  /**
   * Judges the framework's trust-proxy setting. Throws a ConfigurationError coded
   * `TL_PERMISSIVE_TRUST_PROXY` when every proxy is trusted and that is fatal; warns otherwise.
   */
  trust(kind: TrustProxyKind | undefined): void {
    const todo = this.#todo;
    if (kind === 'all' && todo.permissive) {
      const message =
        "every proxy is trusted (Express 'trust proxy' true, Koa proxy without maxIpsCount, Fastify trustProxy true): the client's own left-most X-Forwarded-For entry becomes its address, so anyone can pick their rate-limit identity. Trust your proxy's address instead (or set the limiter's trustedProxies).";
      if (this.#fatal) {
        throw new ConfigurationError(
          `${message} validations.permissiveTrustProxy is 'error'.`,
          'TL_PERMISSIVE_TRUST_PROXY',
        );
      }
      todo.permissive = false;
      this.#warnings.perProcess({
        code: 'TL_PERMISSIVE_TRUST_PROXY',
        message: `${message} Turn this check off with validations.permissiveTrustProxy: false.`,
      });
    }
    if (kind === 'hops' && todo.hops) {
      todo.hops = false;
      this.#warnings.perProcess({
        code: 'TL_HOP_COUNT_TRUST',
        message:
          "proxies are trusted by hop count (Koa maxIpsCount, a number for Express 'trust proxy' or Fastify trustProxy), not by address: a client that reaches the app directly, not through the proxy, picks its own address with X-Forwarded-For. Set the limiter's trustedProxies to your proxies' addresses (or trust them by address in Express or Fastify). Turn this check off with validations.hopCountTrust: false.",
      });
    }
    this.#update();
  }

  /** Judges one request's facts: its trust setting, X-Forwarded-For, whether it has an address. */
  inspect(trustProxy: TrustProxyKind | undefined, headers: RequestHeaders, hasIp: boolean): void {
    const todo = this.#todo;
    if (todo.permissive || todo.hops) this.trust(trustProxy);
    if (todo.untrusted && trustProxy === 'none' && headers['x-forwarded-for'] !== undefined) {
      todo.untrusted = false;
      this.#warnings.perProcess({
        code: 'TL_UNTRUSTED_FORWARDED_FOR',
        message:
          "requests carry X-Forwarded-For but no proxy is trusted: behind a load balancer every client shares its address and one IP bucket. Configure the framework to trust that proxy (or set the limiter's trustedProxies), or turn this check off with validations.untrustedForwardedFor: false.",
      });
    }
    if (todo.noIp && !hasIp) {
      todo.noIp = false;
      this.#warnings.once({
        code: 'TL_NO_CLIENT_IP',
        message:
          'a request had no usable client IP address; such requests share one per-IP bucket. Check that the adapter runs on a live connection and that the trust-proxy setting yields addresses. Turn this check off with validations.noClientIp: false.',
      });
    }
    this.#update();
  }

  #update(): void {
    const todo = this.#todo;
    // A fatal setting is judged on every request: it stays fatal until the app fixes it.
    this.pending = this.#fatal || todo.permissive || todo.hops || todo.untrusted || todo.noIp;
  }
}
