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
import { fastifyRateLimit } from '@tierlimit/fastify';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * The demo API on Fastify. `framework` lets the test suite run the same app on Fastify 4.
 */
export async function createApp(
  options: DemoOptions = {},
  framework: typeof Fastify = Fastify,
): Promise<FastifyInstance> {
  // request.ip then comes from Fastify's own trust-proxy logic; never trust X-Forwarded-For blindly.
  const app = framework({
    trustProxy: options.trustProxy ?? false,
    bodyLimit: bodyLimitBytes,
  });

  // Every route is limited by the `api` policy unless its config says otherwise.
  const limiter = demoLimiter(options);
  await app.register(fastifyRateLimit, { limiter, jsonErrors: true });

  const eventLog = new EventLog();
  const accept = async (request: FastifyRequest, reply: FastifyReply) =>
    reply.code(202).send(eventLog.record(apiKeyOf(request.headers), eventsOf(request.body)));

  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }));

  app.get('/api/v1/players', async () => ({ players }));

  // Event endpoints draw on the event bucket (and the IP limit), not the API request limit.
  app.post(
    '/api/v1/events',
    { config: { rateLimit: { policy: 'events', cost: (request) => singleEventCost(request.body) } } },
    accept,
  );

  app.post(
    '/api/v1/events/batch',
    { config: { rateLimit: { policy: 'events', cost: (request) => batchCost(request.body) } } },
    accept,
  );

  app.get('/api/v1/events/stats', async (request) => eventLog.stats(apiKeyOf(request.headers)));

  // The per-IP limit only: reading usage costs none of the quota it reports.
  app.get('/api/v1/usage', { config: { rateLimit: { policy: false } } }, async (request, reply) => {
    const answer = await usageResponse(limiter, request.headers);
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send(notFoundBody));
  return app;
}
