import { createServer } from 'node:http';
import { closeServer, runDemo } from '@tierlimit/example-shared';
import { createApp } from './app.js';

// The Koa demo: one limiter shared by the HTTP routes and WebSockets on /ws.
await runDemo(async (options) => {
  const server = createServer(createApp(options).callback());
  return { server, close: closeServer(server) };
});
