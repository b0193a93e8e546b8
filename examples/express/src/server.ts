import type { AddressInfo } from 'node:net';
import { demoLimiter, exitOnSignal, listeningLine, serverSettings } from '@tierlimit/example-shared';
import { createApp } from './app.js';

const { port, host, options } = await serverSettings();
// One limiter for the HTTP routes and anything else on this server.
const limiter = demoLimiter(options);
const server = createApp({ ...options, rateLimiter: limiter }).listen(port, host, () => {
  console.log(listeningLine(host, (server.address() as AddressInfo).port));
});
exitOnSignal(limiter, () => new Promise((resolve) => server.close(resolve)));
