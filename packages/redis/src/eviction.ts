/**
 * Whether a Redis server may evict tierlimit's keys, read from `INFO memory` (issue 13:
 * with `maxmemory-policy allkeys-lru`, Redis evicted a limited client's counter under a key
 * flood, and the client got its full limit again). `INFO` rather than `CONFIG GET`, which
 * managed Redis services often disable. Every tierlimit key has a TTL, so the `volatile-*`
 * policies evict them too: only `noeviction` (or no `maxmemory`) is safe.
 */

/** The server's `maxmemory` (bytes) and policy when it may evict keys; `undefined` when it cannot (or `info` does not say). */
export function evictionRisk(info: string): { readonly maxmemory: number; readonly policy: string } | undefined {
  const maxmemory = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? 0);
  const policy = /^maxmemory_policy:([\w-]+)/m.exec(info)?.[1];
  if (!(maxmemory > 0) || policy === undefined || policy === 'noeviction') return undefined;
  return { maxmemory, policy };
}
