/**
 * Configuration mistakes that only show on live requests, each reported once with a
 * stable code and each switchable off (`validations` option), in the spirit of
 * express-rate-limit's validations:
 *
 * - `TL_PERMISSIVE_TRUST_PROXY`: every proxy is trusted (Express `trust proxy: true`, Koa
 *   `proxy: true` without `maxIpsCount`, Fastify `trustProxy: true`). The framework then
 *   takes the left-most X-Forwarded-For entry, which the client writes itself, so any
 *   client can pick its own rate-limit identity.
 * - `TL_UNTRUSTED_FORWARDED_FOR`: requests carry X-Forwarded-For but no proxy is trusted.
 *   Behind a load balancer every client then shares the balancer's address and one IP
 *   bucket. (Harmless if clients add the header themselves and you have no proxy.)
 * - `TL_NO_CLIENT_IP`: a request had no usable client address; such requests share one
 *   bucket.
 *
 * Once every enabled check has fired, `pending` turns false and the hot path skips them.
 */
import type { RequestFacts } from './limiter.js';
import type { Warning } from './options.js';

/** Which runtime checks are on; each defaults to `true`. */
export interface RuntimeValidations {
  readonly permissiveTrustProxy: boolean;
  readonly untrustedForwardedFor: boolean;
  readonly noClientIp: boolean;
}

/**
 * Classifies a trust-proxy setting of the form Express (`trust proxy`) and Fastify
 * (`trustProxy`) share: `true` trusts every proxy; `false`, `undefined` or `0` none;
 * anything else (addresses, presets like `'loopback'`, a hop count, a function) some.
 */
export function trustProxyKind(setting: unknown): 'none' | 'some' | 'all' {
  if (setting === true) return 'all';
  return setting === false || setting === undefined || setting === 0 ? 'none' : 'some';
}

export class RuntimeChecks {
  readonly #todo: { permissive: boolean; untrusted: boolean; noIp: boolean };
  readonly #warn: (warning: Warning) => void;
  pending: boolean;

  constructor(validations: RuntimeValidations, warn: (warning: Warning) => void) {
    this.#todo = {
      permissive: validations.permissiveTrustProxy,
      untrusted: validations.untrustedForwardedFor,
      noIp: validations.noClientIp,
    };
    this.#warn = warn;
    this.pending = this.#todo.permissive || this.#todo.untrusted || this.#todo.noIp;
  }

  inspect(facts: RequestFacts, hasIp: boolean): void {
    const todo = this.#todo;
    if (todo.permissive && facts.trustProxy === 'all') {
      todo.permissive = false;
      this.#warn({
        code: 'TL_PERMISSIVE_TRUST_PROXY',
        message:
          "every proxy is trusted (Express 'trust proxy' true, Koa proxy without maxIpsCount, Fastify trustProxy true): the client's own left-most X-Forwarded-For entry becomes its address, so anyone can pick their rate-limit identity. Trust your proxy's address or hop count instead. Turn this check off with validations.permissiveTrustProxy: false.",
      });
    }
    if (todo.untrusted && facts.trustProxy === 'none' && facts.headers['x-forwarded-for'] !== undefined) {
      todo.untrusted = false;
      this.#warn({
        code: 'TL_UNTRUSTED_FORWARDED_FOR',
        message:
          'requests carry X-Forwarded-For but no proxy is trusted: behind a load balancer every client shares its address and one IP bucket. Configure the framework to trust that proxy, or turn this check off with validations.untrustedForwardedFor: false.',
      });
    }
    if (todo.noIp && !hasIp) {
      todo.noIp = false;
      this.#warn({
        code: 'TL_NO_CLIENT_IP',
        message:
          'a request had no usable client IP address; such requests share one per-IP bucket. Check that the adapter runs on a live connection and that the trust-proxy setting yields addresses. Turn this check off with validations.noClientIp: false.',
      });
    }
    this.pending = todo.permissive || todo.untrusted || todo.noIp;
  }
}
