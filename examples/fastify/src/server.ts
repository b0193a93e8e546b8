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
const app = await createApp({ ...options, rateLimiter: limiter });
const sockets = attachDemoWebSockets(app.server, limiter, options); // WebSockets on /ws, same port and limiter
await app.listen({ port, host });
const address = app.server.address();
console.log(listeningLine(host, typeof address === 'object' && address !== null ? address.port : port));
exitOnSignal(limiter, () => Promise.all([sockets.close(), app.close()]));
