/**
 * Step: request facts. What an adapter tells the core about a request, how a route is
 * limited, and the state one evaluation carries from step to step.
 */
import type { Decision } from '../decision.js';
import type { RequestHeaders } from '../identity.js';
import { requestIdFrom } from '../request-id.js';
import type { DecisionParts, RenderContext, RenderOptions } from '../response.js';
import type { TrustProxyKind } from '../runtime-checks.js';
import type { Penalty, StoreCheck } from '../store.js';
import type { Identity } from '../tier-cache.js';
import type { Charge, PolicyCharges } from './charges.js';

/** What an adapter tells the core about a request. */
export interface RequestFacts {
  /** Client address as the framework reports it after its trust-proxy logic; `undefined` if unknown. */
  readonly ip: string | undefined;
  /**
   * The connection's remote address (`req.socket.remoteAddress`). Used when `ip` cannot be
   * parsed, so such a client never shares a bucket with others, and as the start of the
   * walk through `X-Forwarded-For` when the limiter has `trustedProxies`. Omit if unknown.
   */
  readonly peer?: string | undefined;
  /** Request headers with lower-case names (Node's `req.headers`). */
  readonly headers: RequestHeaders;
  /**
   * The framework's trust-proxy setting, for the deployment checks (see
   * {@link TrustProxyKind}). Omit when unknown.
   */
  readonly trustProxy?: TrustProxyKind | undefined;
  /**
   * This request's decision by an earlier mount of the same limiter (where the adapter
   * keeps it: Express `req.rateLimit`, Koa `ctx.state.rateLimit`, Fastify
   * `request.rateLimit`), so one request pays each limit at most once, all or nothing:
   * a later mount charges only what the earlier ones did not, and if it refuses the
   * request, what they charged is given back. A decision of another limiter is ignored.
   */
  readonly prior?: Decision | undefined;
}

/** How one route (or middleware mount) is limited. */
export interface RouteOptions<Req = unknown> {
  /**
   * The tier policy this route draws from, or `false` for none: the request is then
   * charged to the per-IP limit only (a usage page, a health check that still needs a
   * valid key). Default `'api'`.
   */
  readonly policy?: string | false;
  /**
   * Units one request takes from the policy: a number, or a function of the framework's
   * request (for a batch, the number of events; see `batchSize`). Throw a `RequestError`
   * from it to reject bad input with a 4xx. A concurrency limit takes one slot whatever the
   * cost. Default `1`.
   */
  readonly cost?: number | ((request: Req) => number | Promise<number>);
  /** Requests for which this returns true pass unchecked, with no headers. Default: none skipped. */
  readonly skip?: (request: Req) => boolean;
}

/** Evaluates one request for a route; synchronous when nothing needs to wait. */
export interface RouteHandler<Req> {
  (request: Req, facts: RequestFacts): Decision | Promise<Decision>;
  /**
   * Before the request's body is read: refuses (429, charging nothing) a request for which
   * some limit of the route has no room for even one unit, so a client whose quota is
   * spent cannot make the server read and parse a large body first. An admitted peek
   * charges nothing either (its decision is {@link PASSED}: no headers); call the handler
   * itself once the body is parsed. A request refused for another reason (no valid key)
   * gets the same refusal, charged, as without a peek.
   */
  peek(request: Req, facts: RequestFacts): Decision | Promise<Decision>;
}

/** How a route handler names its route in warnings (`POST /api/v1/events/batch`). */
export type RouteLabel<Req> = (request: Req) => string;

/** What a route costs: a number of units, or a function of the framework's request. */
export type Cost = number | ((request: never) => number | Promise<number>);

/** A route as the engine runs it: its policy (`false`: none), its cost, and how to name it. */
export interface Route {
  readonly policy: string | false;
  readonly cost: Cost;
  readonly label: ((request: never) => string) | undefined;
}

/** A client address as the limiter keys it. */
export interface Address {
  /** `i` + the canonical address or IPv6 prefix; `i?` when there is no usable address. */
  readonly identity: string;
  readonly usable: boolean;
  /** The per-IP limit's charge of one request; `undefined` without a per-IP limit. */
  readonly charge: Charge | undefined;
  /** Its suspension penalty (`undefined` when suspension is off). */
  readonly penalty: Penalty | undefined;
  /** This address as an anonymous caller (of `anonymousTier`), built on first use. */
  anonymous: Identity | undefined;
  /** What its last one-unit request was charged, kept for the next (a client mostly sends one key). */
  last: Pair | undefined;
}

/** The charges of a one-unit request (the per-IP limit's first) and their store checks. */
export interface Pair {
  readonly unit: PolicyCharges;
  readonly charges: readonly Charge[];
  readonly checks: readonly StoreCheck[];
}

/** One evaluation's state, from the request's facts to its decision. */
export class RequestContext implements RenderContext {
  readonly now: number;
  readonly render: RenderOptions;
  /** The limiter deciding (kept in the decision's parts, for a later mount). */
  readonly owner: object;
  /** The framework's request, for the route's cost function and label. */
  request: unknown;
  route: Route | undefined;
  /** Decide without charging (see RouteHandler.peek). */
  peek = false;
  /** An earlier mount's decision for this request (of this limiter), when there is one. */
  priorDecision: Decision | undefined;
  /** Its parts. */
  prior: DecisionParts | undefined;
  /** The client's address as the limiter keys it. */
  address: Address;
  tier: string | undefined;
  identity: Identity | undefined;
  degraded: 'local' | 'open' | undefined;
  readonly #headers: RequestHeaders;
  readonly #header: string;
  #requestId: string | undefined;

  constructor(
    owner: object,
    now: number,
    headers: RequestHeaders,
    header: string,
    render: RenderOptions,
    address: Address,
  ) {
    this.owner = owner;
    this.now = now;
    this.#headers = headers;
    this.#header = header;
    this.render = render;
    this.address = address;
  }

  requestId(): string {
    this.#requestId ??= requestIdFrom(this.#headers, this.#header);
    return this.#requestId;
  }
}
