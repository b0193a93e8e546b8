/**
 * The demo apps in process, for the demos' own tests (test/examples): each demo on the
 * newest and on the older major of its framework, listening on 127.0.0.1 on a free port.
 * The conformance suite runs on the minimal apps instead (test/support/minimal-apps), so
 * the demos can change without changing what the adapters are held to (issue 14).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DemoOptions } from '@tierlimit/example-shared';
import type express from 'express';
import express4 from 'express4';
import type Fastify from 'fastify';
import fastify4 from 'fastify4';
import koa2 from 'koa2';
import { createApp as createExpressApp } from '../../examples/express/src/app';
import { createApp as createFastifyApp } from '../../examples/fastify/src/app';
import { createApp as createKoaApp } from '../../examples/koa/src/app';
import { listen, type RunningServer } from './listen';

export { listen, type RunningServer } from './listen';

export interface Target {
  readonly name: string;
  readonly framework: 'express' | 'koa' | 'fastify';
  start(options: DemoOptions): Promise<RunningServer>;
}

async function listenFastify(app: Awaited<ReturnType<typeof createFastifyApp>>): Promise<RunningServer> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export const targets: readonly Target[] = [
  { name: 'express 5', framework: 'express', start: async (o) => listen(createServer(createExpressApp(o))) },
  {
    name: 'express 4',
    framework: 'express',
    start: async (o) => listen(createServer(createExpressApp(o, express4 as unknown as typeof express))),
  },
  { name: 'koa 3', framework: 'koa', start: async (o) => listen(createServer(createKoaApp(o).callback())) },
  { name: 'koa 2', framework: 'koa', start: async (o) => listen(createServer(createKoaApp(o, koa2).callback())) },
  { name: 'fastify 5', framework: 'fastify', start: async (o) => listenFastify(await createFastifyApp(o)) },
  {
    name: 'fastify 4',
    framework: 'fastify',
    start: async (o) => listenFastify(await createFastifyApp(o, fastify4 as unknown as typeof Fastify)),
  },
];
