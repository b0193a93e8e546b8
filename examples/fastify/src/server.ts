import { listeningLine, serverSettings } from '@tierlimit/example-shared';
import { createApp } from './app.js';

const { port, host, options } = serverSettings();
const app = await createApp(options);
await app.listen({ port, host });
const address = app.server.address();
console.log(listeningLine(host, typeof address === 'object' && address !== null ? address.port : port));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
