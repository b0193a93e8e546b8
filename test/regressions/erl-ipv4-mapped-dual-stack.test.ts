/**
 * express-rate-limit once masked IPv4-mapped addresses (::ffff:a.b.c.d, what a dual-stack
 * server reports for IPv4 clients) as IPv6 /56 subnets, putting every IPv4 client in one
 * bucket (SPEC section 6). A real dual-stack server on loopback: the IPv4 client must be
 * limited as its own IPv4 address.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryStore } from '@tierlimit/core';
import { rateLimit } from '@tierlimit/express';
import express from 'express';

let server: Server;
afterEach(() => new Promise<void>((done) => server.close(() => done())));

test('an IPv4 client of a dual-stack server is keyed by its IPv4 address', async () => {
  const store = memoryStore();
  const app = express();
  let seen: string | undefined;
  app.get('/', (req, _res, next) => {
    seen = req.ip;
    next();
  });
  app.get('/', rateLimit({ resolveTier: () => 'free', store }), (_req, res) => res.end('ok'));
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '::', ipv6Only: false }, resolve));
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-api-key': 'k' } });
  expect(res.status).toBe(200);
  expect(seen).toBe('::ffff:127.0.0.1');
  expect([...store.keys()]).toContain('ip:i127.0.0.1');
});
