import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import {
  apiKeyOf,
  batchCost,
  bodyLimitBytes,
  type DemoOptions,
  demoLimiter,
  EventLog,
  eventsOf,
  notFoundBody,
  players,
  singleEventCost,
  usageResponse,
} from '@tierlimit/example-shared';
import { jsonErrors, rateLimit } from '@tierlimit/koa';
import Koa from 'koa';

/**
 * The demo API on Koa. `framework` lets the test suite run the same app on Koa 2.
 */
export function createApp(options: DemoOptions = {}, framework: typeof Koa = Koa): Koa {
  const app = new framework();
  // Behind a loopback proxy the limiter finds the client's address itself (demoLimiter sets
  // `trustedProxies`): Koa's own trust is by hop count only. `true` trusts every proxy
  // (unsafe; here so tests can show the limiter's warning about it).
  if (options.trustProxy === true) app.proxy = true;

  const limiter = demoLimiter(options);
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: bodyLimitBytes });
  const router = new Router();
  const eventLog = new EventLog();
  const accept = (ctx: Koa.Context) => {
    ctx.status = 202;
    ctx.body = eventLog.record(apiKeyOf(ctx.headers), eventsOf(ctx.request.body));
  };

  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/api/v1/players', rateLimit(limiter), (ctx) => {
    ctx.body = { players };
  });

  // Event endpoints draw on the event bucket (and the IP limit), not the API request limit.
  // The limiter runs the body parser itself, after checking (charging nothing) that the
  // bucket has room for one event: a client whose bucket is empty is refused before its
  // body is read.
  router.post(
    '/api/v1/events',
    rateLimit(limiter, { policy: 'events', cost: (ctx) => singleEventCost(ctx.request.body), bodyParser: json }),
    accept,
  );

  router.post(
    '/api/v1/events/batch',
    rateLimit(limiter, { policy: 'events', cost: (ctx) => batchCost(ctx.request.body), bodyParser: json }),
    accept,
  );

  router.get('/api/v1/events/stats', rateLimit(limiter), (ctx) => {
    ctx.body = eventLog.stats(apiKeyOf(ctx.headers));
  });

  // The per-IP limit only: reading usage costs none of the quota it reports.
  router.get('/api/v1/usage', rateLimit(limiter, { policy: false }), async (ctx) => {
    const answer = await usageResponse(limiter, ctx.headers);
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  });

  app.use(jsonErrors());
  app.use(router.routes());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = notFoundBody;
  });
  return app;
}
