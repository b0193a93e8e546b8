import {
  batchCost,
  bodyLimitBytes,
  type DemoOptions,
  demoLimiterOptions,
  notFoundBody,
  players,
  singleEventCost,
} from '@tierlimit/example-shared';
import { fastifyRateLimit } from '@tierlimit/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

/**
 * The demo API on Fastify. `framework` lets the test suite run the same app on Fastify 4.
 */
export async function createApp(
  options: DemoOptions = {},
  framework: typeof Fastify = Fastify,
): Promise<FastifyInstance> {
  // request.ip then comes from Fastify's own trust-proxy logic; never trust X-Forwarded-For blindly.
  const app = framework({
    trustProxy: options.trustProxy === 'loopback' ? 'loopback' : false,
    bodyLimit: bodyLimitBytes,
  });

  // Every route is limited by the `api` policy unless its config says otherwise.
  await app.register(fastifyRateLimit, { ...demoLimiterOptions(options.limiter), jsonErrors: true });

  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }));

  app.get('/api/v1/players', async () => ({ players }));

  // Event endpoints draw on the event bucket (and the IP limit), not the API request limit.
  app.post(
    '/api/v1/events',
    { config: { rateLimit: { policy: 'events', cost: (request) => singleEventCost(request.body) } } },
    async (_request, reply) => reply.code(202).send({ accepted: 1 }),
  );

  app.post(
    '/api/v1/events/batch',
    { config: { rateLimit: { policy: 'events', cost: (request) => batchCost(request.body) } } },
    async (request, reply) => reply.code(202).send({ accepted: (request.body as { events: unknown[] }).events.length }),
  );

  app.setNotFoundHandler((_request, reply) => reply.code(404).send(notFoundBody));
  return app;
}
