import { runDemo } from '@tierlimit/example-shared';
import { createApp } from './app.js';

// The Fastify demo: one limiter shared by the HTTP routes and WebSockets on /ws.
await runDemo(async (options) => {
  const app = await createApp(options);
  await app.ready();
  return { server: app.server, close: () => app.close() };
});
