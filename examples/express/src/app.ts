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
import { jsonErrors, rateLimit } from '@tierlimit/express';
import express from 'express';

/**
 * The demo API on Express. `framework` lets the test suite run the same app on Express 4.
 */
export function createApp(options: DemoOptions = {}, framework: typeof express = express): express.Express {
  const app = framework();
  app.disable('x-powered-by');
  // req.ip then comes from Express's own trust-proxy logic; never trust X-Forwarded-For blindly.
  app.set('trust proxy', options.trustProxy ?? false);

  const limiter = demoLimiter(options);
  const json = framework.json({ limit: bodyLimitBytes });
  const eventLog = new EventLog();
  const accept = (req: express.Request, res: express.Response) => {
    res.status(202).json(eventLog.record(apiKeyOf(req.headers), eventsOf(req.body)));
  };

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/api/v1/players', rateLimit(limiter), (_req, res) => {
    res.json({ players });
  });

  // Event endpoints draw on the event bucket (and the IP limit), not the API request limit.
  // The limiter runs the body parser itself, after checking (charging nothing) that the
  // bucket has room for one event: a client whose bucket is empty is refused before its
  // body is read.
  app.post(
    '/api/v1/events',
    rateLimit(limiter, { policy: 'events', cost: (req) => singleEventCost(req.body), bodyParser: json }),
    accept,
  );

  app.post(
    '/api/v1/events/batch',
    rateLimit(limiter, { policy: 'events', cost: (req) => batchCost(req.body), bodyParser: json }),
    accept,
  );

  app.get('/api/v1/events/stats', rateLimit(limiter), (req, res) => {
    res.json(eventLog.stats(apiKeyOf(req.headers)));
  });

  // The per-IP limit only: reading usage costs none of the quota it reports.
  app.get('/api/v1/usage', rateLimit(limiter, { policy: false }), (req, res) => {
    void usageResponse(limiter, req.headers).then((answer) => {
      res.status(answer.status).set(answer.headers).json(answer.body);
    });
  });

  app.use((_req, res) => {
    res.status(404).json(notFoundBody);
  });
  app.use(jsonErrors());
  return app;
}
