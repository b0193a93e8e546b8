/**
 * Reading response headers from either a fetch `Headers` object or a plain record (Node's
 * `IncomingHttpHeaders`, axios, a test fixture), so the parsers work with any client.
 */

/** A fetch `Headers` (anything with `get`), or a record of header values keyed by name in any case. */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | number | readonly string[] | undefined>>;

/**
 * The value of header `name` (case-insensitive), or `undefined`. Repeated values of a
 * record are joined with ", " exactly as fetch's `Headers.get` joins repeated lines.
 */
export function headerValue(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | number | readonly string[] | undefined>>;
  const lower = name.toLowerCase();
  let value = record[lower];
  if (value === undefined) {
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === lower) {
        value = record[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : value.join(', ');
}
