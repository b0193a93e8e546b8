/**
 * Redis key format, version 1:
 *
 *     <prefix>{<identity>}:<policy>        e.g.  tl:1:{hK3v...22 chars}:api
 *
 * - `<prefix>` defaults to `tl:1:`; the `1` is the format version, bumped if the layout
 *   or the value encoding ever changes, so old and new deployments never read each other.
 * - `<identity>` is what the core built: `h` + 22 base64url characters of SHA-256 for an
 *   API key or account id, or `i` + a normalised client address (`i203.0.113.9`,
 *   `i2001:db8:0:100::/56`). A raw API key never appears.
 * - The identity is the Redis Cluster hash tag, so every policy of one identity lives in
 *   one slot and can be decided by one script.
 */

/** Splits a core storage key (`<policy>:<identity>`; policy names contain no colon). */
export function redisKey(prefix: string, storageKey: string): { key: string; identity: string } {
  const colon = storageKey.indexOf(':');
  const policy = storageKey.slice(0, colon);
  const identity = storageKey.slice(colon + 1);
  return { key: `${prefix}{${identity}}:${policy}`, identity };
}
