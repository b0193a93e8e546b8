/**
 * Event ids. The server drops repeats by id, so an id fixed before the first send turns
 * "sent twice because a response was lost" into "stored once". Ids must therefore be
 * unique across clients and time: random UUIDs, from the Web Crypto API that browsers
 * and Node 19+ expose as `globalThis.crypto` (no `node:crypto` import, which would break
 * browser builds).
 */

interface WebCrypto {
  randomUUID?: () => string;
  getRandomValues?: <T extends Uint8Array>(array: T) => T;
}

/**
 * A new random id: `crypto.randomUUID()` where available (it needs a secure context in
 * browsers), else 128 random bits as 32 hex digits from `crypto.getRandomValues`, else
 * (only in runtimes with no Web Crypto at all) from `Math.random`, which is not
 * cryptographic but still makes collisions vanishingly unlikely for deduplication.
 */
export function randomId(): string {
  const crypto = (globalThis as { crypto?: WebCrypto }).crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof crypto?.getRandomValues === 'function') {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
