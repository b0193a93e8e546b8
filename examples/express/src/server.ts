import type { AddressInfo } from 'node:net';
import { exitOnSignal, listeningLine, serverSettings } from '@tierlimit/example-shared';
import { createApp } from './app.js';

const { port, host, options } = await serverSettings();
const server = createApp(options).listen(port, host, () => {
  console.log(listeningLine(host, (server.address() as AddressInfo).port));
});
exitOnSignal(options, () => new Promise((resolve) => server.close(resolve)));
