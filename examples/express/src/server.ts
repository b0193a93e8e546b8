import type { AddressInfo } from 'node:net';
import {
  attachDemoWebSockets,
  demoLimiter,
  exitOnSignal,
  listeningLine,
  serverSettings,
} from '@tierlimit/example-shared';
import { createApp } from './app.js';

const { port, host, options } = await serverSettings();
// One limiter for the HTTP routes and anything else on this server.
const limiter = demoLimiter(options);
const server = createApp({ ...options, rateLimiter: limiter }).listen(port, host, () => {
  console.log(listeningLine(host, (server.address() as AddressInfo).port));
});
const sockets = attachDemoWebSockets(server, limiter, options); // WebSockets on /ws, same port and limiter
exitOnSignal(limiter, () => Promise.all([sockets.close(), new Promise((resolve) => server.close(resolve))]));
