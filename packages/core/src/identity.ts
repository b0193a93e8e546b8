/**
 * API keys are secrets (SPEC section 3): they are validated here, hashed once per
 * resolver cache miss, and only the hash ever becomes part of a storage key.
 *
 * Storage keys are `<policy>:<identity>`. Policy names are validated at construction to
 * `[A-Za-z][A-Za-z0-9_-]*` (no colon), and identities are either `h` + 22 base64url
 * characters of a domain-separated SHA-256 or `i` + a canonical IP identity (digits,
 * dots, hex, colons, a slash), so the two parts split unambiguously and no two different
 * inputs build the same key.
 */
import * as crypto from 'node:crypto';

type OneShotHash = (algorithm: string, data: string, outputEncoding: 'base64url') => string;
/**
 * `crypto.hash` (Node 20.12+): a one-shot digest, about a third of the cost of a Hash
 * object for a short key (320 against 1,100 ns here), which is most of what a new API key
 * costs. Read from the namespace, not imported by name, so older Node 20s load this module
 * and fall back to `createHash`.
 */
const oneShotHash = (crypto as unknown as { hash?: OneShotHash }).hash;

/** HTTP headers as Node and every framework here expose them: lower-case names. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Marker for a present but malformed API key. */
export const MALFORMED = Symbol('malformed API key');

/**
 * Reads the API key from `header`. Returns the key, `undefined` when absent, or
 * {@link MALFORMED} when it is too long or has characters outside printable ASCII
 * (0x21-0x7E): such a key could never be valid and must not reach a log or a resolver.
 * For the `authorization` header the `Bearer` scheme is stripped.
 */
export function readApiKey(
  headers: RequestHeaders,
  header: string,
  maxLength: number,
): string | undefined | typeof MALFORMED {
  const raw = headers[header];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') return MALFORMED;
  let key = raw;
  if (header === 'authorization') {
    if (!/^bearer /i.test(key)) return MALFORMED;
    key = key.slice(7).trim();
  }
  if (key.length === 0) return undefined;
  if (key.length > maxLength) return MALFORMED;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return MALFORMED;
  }
  return key;
}

/**
 * Fixed-length identity for a secret or an account id: `h` + 128 bits of SHA-256 in
 * base64url. `domain` separates API keys from account ids so the two never share state.
 */
export function hashedIdentity(domain: 'key' | 'id', value: string): string {
  // join, not concatenation: a flat string, where `h` + a slice would keep two extra
  // string objects (a cons and a slice of the whole digest) alive as long as the identity.
  const input = `${domain}\0${value}`;
  const digest =
    oneShotHash === undefined
      ? crypto.createHash('sha256').update(input).digest('base64url')
      : oneShotHash('sha256', input, 'base64url');
  return ['h', digest.slice(0, 22)].join('');
}

/** Identity of a client known only by its address (the per-IP policy, anonymous tiers). */
export function ipIdentityKey(ip: string): string {
  return `i${ip}`;
}
