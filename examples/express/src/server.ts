import type { AddressInfo } from 'node:net';
import { listeningLine, serverSettings } from '@tierlimit/example-shared';
import { createApp } from './app.js';

const { port, host, options } = serverSettings();
const server = createApp(options).listen(port, host, () => {
  console.log(listeningLine(host, (server.address() as AddressInfo).port));
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
