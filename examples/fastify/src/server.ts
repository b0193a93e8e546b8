import { exitOnSignal, listeningLine, serverSettings } from '@tierlimit/example-shared';
import { createApp } from './app.js';

const { port, host, options } = await serverSettings();
const app = await createApp(options);
await app.listen({ port, host });
const address = app.server.address();
console.log(listeningLine(host, typeof address === 'object' && address !== null ? address.port : port));
exitOnSignal(options, () => app.close());
