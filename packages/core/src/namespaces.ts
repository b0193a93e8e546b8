/**
 * Every storage namespace in one place. A storage key is `<namespace>:<identity>`: the
 * namespace names what is counted (a limit of a policy, the per-IP limit, suspensions),
 * the identity whose count it is (`h` + a hashed API key or account id, `i` + a client
 * address). Namespaces never contain a colon, so a key splits unambiguously, and the ones
 * below are reserved: no policy may take their names.
 */

/** The namespaces tierlimit itself keeps state in. */
export const Namespaces = Object.freeze({
  /** The per-IP limit (`ip` option). */
  ip: 'ip',
  /** Unknown and malformed API keys counted per client address (`unknownKeys` option). */
  unknownKeys: 'unknown-keys',
  /** Recent denials of an identity, toward a suspension. */
  violations: 'violations',
  /** A suspended identity, until the key lapses. */
  suspended: 'suspended',
  /** An operator's limit override of an identity. */
  override: 'override',
  /** WebSocket connection leases of an identity (`@tierlimit/ws`). */
  connections: 'connections',
  /** Reserved for tierlimit's own use: the names a later version may need. */
  websocket: 'websocket',
} as const);

/** Names no policy may use (see {@link Namespaces}). */
export const RESERVED_NAMESPACES: ReadonlySet<string> = new Set(Object.values(Namespaces));

/**
 * Storage key of one namespace for one identity. Built with join, which makes one flat
 * string: a concatenation of 13 characters or more makes a cons string, which a map
 * flattens into a second string when it hashes the key, so a tracked key would cost two
 * string objects instead of one.
 */
export function storageKey(namespace: string, identity: string): string {
  return [namespace, identity].join(':');
}

/** The shortest unit a window length is a whole number of: `1s`, `90s`, `1m`, `12h`, `7d`, else `1500ms`. */
export function spanName(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
