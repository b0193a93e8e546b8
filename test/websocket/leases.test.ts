/**
 * Connection leases: given back exactly once however a connection ends, renewed by the
 * heartbeat, re-taken (or the connection closed with 1013) when they lapse, and what a
 * failing or hanging lease store means in each `onStoreFailure` mode. The store here is
 * core's memory store behind a spy that can fail, hang, lapse or report the cap full.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { createRateLimiter, type LeaseStore, memoryStore, type RateLimiter } from '@tierlimit/core';
import type { WebSocketGuardOptions } from '@tierlimit/ws';
import { WebSocket } from 'ws';
import {
  closeAll,
  closed,
  connect,
  eventually,
  type GuardServer,
  open,
  refused,
  resolveTier,
  sleep,
  startGuardServer,
  warnings,
} from './helpers';

/** A lease store that records every call and misbehaves on demand. */
class SpyStore implements LeaseStore {
  readonly inner = memoryStore();
  /** `reject`: every call fails; `hang`: acquire calls wait until `unhang()`. */
  failing: false | 'reject' | 'hang' = false;
  /** Renewals answer "lapsed" (the lease is dropped). */
  lapse = false;
  /** Acquire calls answer "full". */
  full = false;
  /** Delay before each acquire answers, in ms. */
  acquireDelayMs = 0;
  /** acquireLease calls begun. */
  acquiring = 0;
  readonly acquired: string[] = [];
  /** releaseLease calls per lease id. */
  readonly releases = new Map<string, number>();
  readonly #hanging: Array<() => void> = [];

  async acquireLease(key: string, max: number, ttlMs: number): Promise<string | undefined> {
    this.acquiring++;
    if (this.failing === 'reject') throw new Error('store down');
    if (this.failing === 'hang') await new Promise<void>((resolve) => this.#hanging.push(resolve));
    if (this.acquireDelayMs > 0) await sleep(this.acquireDelayMs);
    if (this.full) return undefined;
    const id = this.inner.acquireLease(key, max, ttlMs);
    if (id !== undefined) this.acquired.push(id);
    return id;
  }

  async renewLease(key: string, lease: string, ttlMs: number): Promise<boolean> {
    if (this.failing === 'reject') throw new Error('store down');
    if (this.lapse) {
      this.inner.releaseLease(key, lease);
      return false;
    }
    return this.inner.renewLease(key, lease, ttlMs);
  }

  async releaseLease(key: string, lease: string): Promise<boolean> {
    this.releases.set(lease, (this.releases.get(lease) ?? 0) + 1);
    if (this.failing === 'reject') throw new Error('store down');
    return this.inner.releaseLease(key, lease);
  }

  async countLeases(key: string): Promise<number> {
    return this.inner.countLeases(key);
  }

  unhang(): void {
    this.failing = false;
    for (const resolve of this.#hanging.splice(0)) resolve();
  }

  /** Live leases over all keys. */
  live(): number {
    return this.acquired.filter((id) => this.releases.get(id) === undefined).length;
  }

  /** Every lease taken was given back, each exactly once. */
  allReleasedOnce(): boolean {
    return this.acquired.every((id) => this.releases.get(id) === 1);
  }
}

/** A raw upgrade request; returns the socket (the test decides when to end it). */
function rawUpgrade(url: string, headers: Record<string, string>): Socket {
  const port = Number(new URL(url).port);
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const lines = [
    'GET /ws HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return socket;
}

describe('connection leases', () => {
  let limiter: RateLimiter;
  let store: SpyStore;
  const servers: GuardServer[] = [];

  beforeEach(() => {
    limiter = createRateLimiter({ resolveTier });
    store = new SpyStore();
  });

  afterEach(async () => {
    store.unhang();
    store.failing = false;
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await limiter.close();
  });

  async function start(options: Partial<WebSocketGuardOptions> = {}): Promise<GuardServer> {
    const server = await startGuardServer({
      limiter,
      ...options,
      connections: { store, ...options.connections },
      onWarning: options.onWarning ?? (() => undefined),
    });
    servers.push(server);
    return server;
  }

  describe('released exactly once, however the connection ends', () => {
    const endings: Array<[string, (ws: WebSocket, server: GuardServer) => void | Promise<void>]> = [
      ['the client closes', (ws) => ws.close(1000)],
      ['the client terminates', (ws) => ws.terminate()],
      ['the server closes it', (_ws, server) => server.accepted[0]?.close(1000)],
      ['the server terminates it', (_ws, server) => server.accepted[0]?.socket.terminate()],
      [
        'a socket error (an invalid frame)',
        (ws) => {
          (ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x83, 0x00]));
        },
      ],
      ['the guard shuts down', (_ws, server) => server.guard.close()],
    ];

    test.each(endings)('%s', async (_name, end) => {
      const server = await start();
      const ws = await open(server.url, 'key-free');
      expect(store.live()).toBe(1);
      const done = closed(ws);
      await end(ws, server);
      await done;
      await eventually(() => store.live() === 0);
      await sleep(50);
      expect(store.allReleasedOnce()).toBe(true);
      expect(server.guard.connections.size).toBe(0);
    });

    test('the guard shuts down: 1001 for the client, 503 for new upgrades', async () => {
      const server = await start();
      const ws = await open(server.url, 'key-free');
      const done = closed(ws);
      await server.guard.close();
      expect(await done).toEqual({ code: 1001, reason: 'server shutting down' });
      const response = await refused(server.url, 'key-free');
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(store.allReleasedOnce()).toBe(true);
    });

    test('the guard shuts down while an upgrade is taking its lease: 503, and the lease is back when close() resolves', async () => {
      store.acquireDelayMs = 200;
      const server = await start();
      const pending = connect(server.url, 'key-free');
      await eventually(() => store.acquiring === 1);
      await server.guard.close();
      expect(store.acquired).toHaveLength(1);
      expect(store.live()).toBe(0);
      const response = await pending;
      expect(response.ok).toBe(false);
      expect(response.ok ? 0 : response.status).toBe(503);
    });

    test('a handshake that fails after the lease was taken (ws answers 400)', async () => {
      const server = await start();
      const socket = rawUpgrade(server.url, { 'Sec-WebSocket-Version': '99', 'X-API-Key': 'key-free' });
      const response = await new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
        });
        socket.on('close', () => resolve(text));
      });
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(store.acquired).toHaveLength(1);
      await eventually(() => store.live() === 0);
      expect(store.allReleasedOnce()).toBe(true);
    });

    test('the client leaves while the lease is being taken', async () => {
      store.acquireDelayMs = 150;
      const server = await start();
      const socket = rawUpgrade(server.url, { 'Sec-WebSocket-Version': '13', 'X-API-Key': 'key-free' });
      await eventually(() => store.acquiring === 1);
      socket.destroy();
      await eventually(() => store.acquired.length === 1);
      await eventually(() => store.live() === 0);
      expect(server.accepted).toHaveLength(0);
      expect(store.allReleasedOnce()).toBe(true);
    });

    test('release is idempotent: the count never goes negative', async () => {
      const key = 'connections:htest';
      const first = store.inner.acquireLease(key, 2, 10_000) as string;
      expect(store.inner.releaseLease(key, first)).toBe(true);
      expect(store.inner.releaseLease(key, first)).toBe(false);
      expect(store.inner.countLeases(key)).toBe(0);
      // The double release did not free a phantom slot: still exactly 2 fit.
      expect(store.inner.acquireLease(key, 2, 10_000)).toEqual(expect.any(String));
      expect(store.inner.acquireLease(key, 2, 10_000)).toEqual(expect.any(String));
      expect(store.inner.acquireLease(key, 2, 10_000)).toBeUndefined();
    });
  });

  describe('heartbeat', () => {
    test('renews leases, so a connection outlives its TTL', async () => {
      const server = await start({ connections: { leaseTtlMs: 300, heartbeatMs: 100 } });
      const ws = await open(server.url, 'key-free');
      const key = `connections:${server.accepted[0]?.identity}`;
      for (let i = 0; i < 5; i++) {
        await sleep(200);
        expect(await store.countLeases(key)).toBe(1);
      }
      await closeAll([ws]);
      await eventually(async () => (await store.countLeases(key)) === 0);
    });

    test('a lapsed lease with no room left: closed with 1013', async () => {
      const server = await start({ connections: { leaseTtlMs: 300, heartbeatMs: 100 } });
      const ws = await open(server.url, 'key-free');
      const done = closed(ws);
      store.lapse = true;
      store.full = true;
      expect(await done).toEqual({ code: 1013, reason: 'connection limit reached' });
    });

    test('a lapsed lease with room left is taken again; the connection stays', async () => {
      const server = await start({ connections: { leaseTtlMs: 300, heartbeatMs: 100 } });
      const ws = await open(server.url, 'key-free');
      store.lapse = true;
      await eventually(() => store.acquired.length >= 2);
      store.lapse = false;
      await sleep(250);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      expect(server.accepted[0]?.leaseHolding).toBe('shared');
      await closeAll([ws]);
    });
  });

  describe('a failing lease store is never a 429', () => {
    test('local (default): leases held in process, the cap still holds; moved to the store once it is back', async () => {
      const seen = warnings();
      const server = await start({ connections: { leaseTtlMs: 600, heartbeatMs: 200 }, onWarning: seen.onWarning });
      store.failing = 'reject';
      const clients = await Promise.all(Array.from({ length: 10 }, () => open(server.url, 'key-free')));
      expect(server.accepted.every((conn) => conn.leaseHolding === 'local')).toBe(true);
      // The tier's cap, kept in process: the 11th is a real 429 for the cap, not for the failure.
      const response = await refused(server.url, 'key-free');
      expect(response.status).toBe(429);
      expect(seen.codes).toEqual(['TL_WS_LEASE_STORE_FAILED']);

      store.failing = false;
      await eventually(() => server.accepted.every((conn) => conn.leaseHolding === 'shared'));
      expect(store.live()).toBe(10);
      expect((await refused(server.url, 'key-free')).status).toBe(429);
      await closeAll(clients);
      await eventually(() => store.live() === 0);
    });

    test('local: a hanging store is bounded by timeoutMs, and a lease taken too late is given back', async () => {
      const server = await start({ connections: { timeoutMs: 100 } });
      store.failing = 'hang';
      const started = Date.now();
      const ws = await open(server.url, 'key-free');
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(server.accepted[0]?.leaseHolding).toBe('local');
      store.unhang();
      await eventually(() => store.acquired.length >= 1);
      const late = store.acquired[0] as string;
      await eventually(() => store.releases.get(late) === 1);
      await closeAll([ws]);
    });

    test('open: admitted without a lease; over the cap once the store is back, closed with 1013', async () => {
      const server = await start({ connections: { onStoreFailure: 'open', leaseTtlMs: 600, heartbeatMs: 200 } });
      store.failing = 'reject';
      const clients = await Promise.all(Array.from({ length: 12 }, () => open(server.url, 'key-free')));
      expect(server.accepted.every((conn) => conn.leaseHolding === 'none')).toBe(true);
      const codes: number[] = [];
      for (const ws of clients) ws.once('close', (code) => codes.push(code));
      store.failing = false;
      await eventually(() => server.accepted.filter((conn) => conn.leaseHolding === 'shared').length === 10);
      await eventually(() => codes.length === 2);
      expect(codes).toEqual([1013, 1013]);
      expect(store.live()).toBe(10);
      await closeAll(clients.filter((ws) => ws.readyState === WebSocket.OPEN));
    });

    test('closed: 503 with Retry-After', async () => {
      const server = await start({ connections: { onStoreFailure: 'closed' } });
      store.failing = 'reject';
      const response = await refused(server.url, 'key-free');
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    });
  });
});
