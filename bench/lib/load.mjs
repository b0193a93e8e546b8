/** Drives a server with autocannon (in the runner process; the server is another process). */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/**
 * Runs autocannon against `url` for `duration` seconds, or for `amount` requests.
 * `uniqueKeys` gives every request its own `X-API-Key` (`bench-<prefix>-<n>`), for the
 * many-keys runs; otherwise every request carries the one key `bench-hot`.
 */
export function load({ url, connections, duration, amount, uniqueKeys }) {
  const options = {
    url,
    connections,
    pipelining: 1,
    headers: { 'x-api-key': 'bench-hot' },
    ...(amount === undefined ? { duration } : { amount }),
  };
  let issued = 0;
  if (uniqueKeys !== undefined) {
    options.requests = [
      {
        setupRequest: (request) => {
          request.headers = { ...request.headers, 'x-api-key': `bench-${uniqueKeys}-${issued++}` };
          return request;
        },
      },
    ];
  }
  const started = performance.now();
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => {
      if (error) return reject(error);
      // autocannon reports whole seconds for an `amount` run: time it here instead.
      const seconds = amount === undefined ? result.duration : (performance.now() - started) / 1000;
      resolve({
        requests: result.requests.total,
        seconds,
        rps: result.requests.total / seconds,
        p50: result.latency.p50,
        p99: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        issued,
      });
    });
  });
}
