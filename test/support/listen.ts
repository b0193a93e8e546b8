/**
 * A running test server on 127.0.0.1, on a free port. Its own module so that the minimal
 * apps (test/support/minimal-apps) and the in-process demos (test/support/targets) share
 * it without the conformance suite loading the demos.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 on a free port; `close` also ends open keep-alive connections. */
export function listen(server: Server): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
