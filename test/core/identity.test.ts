/**
 * Storage identities are part of the stored format: a key's counters live under its
 * identity, so the same API key (or account id) must map to the same identity in every
 * release and on every Node version, whichever hash API computes it.
 */
import { type ConsumeResult, createRateLimiter, memoryStore, type Store, type StoreCheck } from '@tierlimit/core';

/** The memory store, recording the key of every check it is asked. */
function recordingStore(): { store: Store; keys: string[] } {
  const inner = memoryStore();
  const keys: string[] = [];
  return {
    keys,
    store: {
      consume(checks: readonly StoreCheck[]): ConsumeResult | Promise<ConsumeResult> {
        for (const check of checks) keys.push(check.key);
        return inner.consume(checks);
      },
    },
  };
}

describe('hashed identities', () => {
  test('an API key becomes h + 22 base64url characters of SHA-256("key\\0" + key), unchanged across releases', async () => {
    const { store, keys } = recordingStore();
    const limiter = createRateLimiter({ store, resolveTier: () => 'free', ip: false });
    await limiter.check({ ip: '192.0.2.1', headers: { 'x-api-key': 'sk_live_51Hx9' } });
    expect(keys).toEqual(['api:hDt29lJSw6ejbtzUH0jXN5f']);
    await limiter.close();
  });

  test('an account id from the resolver is hashed in its own domain, and non-ASCII ids as UTF-8', async () => {
    const { store, keys } = recordingStore();
    const limiter = createRateLimiter({
      store,
      resolveTier: (key) => ({ tier: 'free', id: key === 'key-a' ? 'acct-42' : 'ключ' }),
      ip: false,
    });
    await limiter.check({ ip: '192.0.2.1', headers: { 'x-api-key': 'key-a' } });
    await limiter.check({ ip: '192.0.2.1', headers: { 'x-api-key': 'key-b' } });
    expect(keys).toEqual(['api:hI3d1BBZzlK7XRlJlscAjUr', 'api:h-tfSKVw5d4Lg-E1zfONx7l']);
    await limiter.close();
  });
});
