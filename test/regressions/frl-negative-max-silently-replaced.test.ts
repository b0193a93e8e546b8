/**
 * @fastify/rate-limit turns `max: -1` into its default of 1000 without a word (STYLE.md).
 * A configuration mistake must fail at construction with a message naming the option.
 */
import { fastifyRateLimit } from '@tierlimit/fastify';
import Fastify from 'fastify';

test('a negative limit fails plugin registration with a message naming the option', async () => {
  const app = Fastify();
  await expect(
    app.register(fastifyRateLimit, {
      resolveTier: () => 'free',
      tiers: { free: { api: { limit: -1, windowMs: 60_000 } } },
    }),
  ).rejects.toThrow('Expected `tiers.free.api.limit` to be a positive integer, got -1.');
  await app.close().catch(() => undefined);
});
