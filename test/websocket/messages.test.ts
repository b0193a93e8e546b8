/**
 * Per-connection limits: the message rate (a token bucket, with an injected clock where
 * time matters), repeated violations, subscriptions, message size (also inflated with
 * permessage-deflate), a client that stops reading, and one connection's flood not
 * slowing another. Real `ws` clients over 127.0.0.1.
 */
import { connect as netConnect } from 'node:net';
import type { WebSocket } from 'ws';
import { ManualClock } from '../support/clock';
import { closed, collect, eventually, guardSuite, nextFrame, sleep, warnings } from './helpers';

const event = (id: number) => JSON.stringify({ type: 'event', id });

/** Sends `message` and resolves with the reply. */
async function request(ws: WebSocket, message: unknown): Promise<unknown> {
  const reply = nextFrame(ws);
  ws.send(JSON.stringify(message));
  return reply;
}

describe('per-connection limits', () => {
  const { limiter, start, client } = guardSuite();

  test('the 11th message inside one second gets the error frame, and never reaches the app', async () => {
    const clock = new ManualClock();
    const delivered: unknown[] = [];
    const server = await start(
      { limiter: limiter(), now: clock.now },
      {
        onConnection: (conn) =>
          conn.on('message', (data) => {
            delivered.push(JSON.parse(data.toString()));
            conn.send(JSON.stringify({ type: 'ack' }));
          }),
      },
    );
    const ws = await client(server);
    const frames = collect(ws);
    for (let i = 1; i <= 11; i++) ws.send(event(i));
    await eventually(() => frames.length === 11);
    expect(frames.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => ({ type: 'ack' })));
    expect(frames[10]).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: 'Rate limit exceeded. Retry after 1 second.',
        details: { limit: 10, window: '1 second', retryAfter: 1, policy: 'messages' },
        requestId: expect.stringMatching(/^req-/),
        timestamp: '2025-01-21T10:00:00Z',
      },
    });
    expect(delivered.map((message) => (message as { id: number }).id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // One token every 100 ms: after 100 ms exactly one more message passes.
    clock.advance(100);
    ws.send(event(12));
    ws.send(event(13));
    await eventually(() => frames.length === 13);
    expect(frames[11]).toEqual({ type: 'ack' });
    expect(frames[12]).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(delivered).toHaveLength(11);
  });

  test('the error frame echoes the upgrade request id and follows a custom rate', async () => {
    const clock = new ManualClock();
    const server = await start({
      limiter: limiter(),
      now: clock.now,
      messages: { limit: 60, windowMs: 60_000, burst: 2 },
    });
    const ws = await client(server, 'key-free', { headers: { 'x-request-id': 'trace-42' } });
    const frames = collect(ws);
    for (let i = 0; i < 3; i++) ws.send(event(i));
    await eventually(() => frames.length === 3);
    // A bucket of 2 refilled at 1 a second: the window is the time to refill from empty.
    expect(frames[2]).toMatchObject({
      error: { details: { limit: 2, window: '2 seconds', retryAfter: 1 }, requestId: 'trace-42' },
    });
  });

  test('repeated violations close the connection with 1008 after the threshold', async () => {
    const clock = new ManualClock();
    const limited: unknown[] = [];
    const server = await start(
      { limiter: limiter(), now: clock.now, violations: { limit: 3, windowMs: 10_000 } },
      {
        onConnection: (conn) => {
          conn.on('limited', (body) => limited.push(body));
          conn.on('message', () => conn.send(JSON.stringify({ type: 'ack' })));
        },
      },
    );
    const ws = await client(server);
    const frames = collect(ws);
    const done = closed(ws);
    for (let i = 0; i < 20; i++) ws.send(event(i));
    expect(await done).toEqual({ code: 1008, reason: 'message rate limit exceeded repeatedly' });
    // 10 acks, 3 error frames, then the close: the 4th violation is not answered.
    expect(frames.filter((frame) => (frame as { type?: string }).type === 'ack')).toHaveLength(10);
    expect(frames.filter((frame) => 'error' in (frame as object))).toHaveLength(3);
    expect(limited).toHaveLength(3);
  });

  test('violations spread out over windows never close the connection', async () => {
    const clock = new ManualClock();
    const server = await start({ limiter: limiter(), now: clock.now, violations: { limit: 2, windowMs: 1_000 } });
    const ws = await client(server);
    const frames = collect(ws);
    for (let second = 0; second < 5; second++) {
      // 10 pass, 2 are refused, each second: never more than 2 violations in one window.
      const before = frames.length;
      for (let i = 0; i < 12; i++) ws.send(event(i));
      await eventually(() => frames.length === before + 12);
      clock.advance(1_000);
    }
    expect(ws.readyState).toBe(ws.OPEN);
  });

  test('messages: false turns the rate off', async () => {
    const server = await start({ limiter: limiter(), messages: false });
    const ws = await client(server);
    const frames = collect(ws);
    for (let i = 0; i < 100; i++) ws.send(event(i));
    await eventually(() => frames.length === 100);
    expect(frames.every((frame) => (frame as { type?: string }).type === 'ack')).toBe(true);
  });

  test('50 subscriptions; the 51st is refused; a repeat costs nothing; unsubscribing frees a place', async () => {
    const server = await start({ limiter: limiter(), messages: false });
    const ws = await client(server);
    const conn = server.accepted[0];
    for (let i = 1; i <= 50; i++) {
      expect(await request(ws, { type: 'subscribe', channel: `c${i}` })).toEqual({ type: 'subscribed' });
    }
    expect(await request(ws, { type: 'subscribe', channel: 'c51' })).toEqual({ type: 'refused' });
    expect(await request(ws, { type: 'subscribe', channel: 'c7' })).toEqual({ type: 'subscribed' });
    expect(conn?.subscriptions.size).toBe(50);
    expect(await request(ws, { type: 'unsubscribe', channel: 'c7' })).toEqual({ type: 'unsubscribed' });
    expect(await request(ws, { type: 'subscribe', channel: 'c51' })).toEqual({ type: 'subscribed' });
    expect(conn?.subscriptions.has('c51')).toBe(true);
    expect(conn?.maxSubscriptions).toBe(50);
  });

  test('64 KiB passes; a 65 KB message closes the connection with 1009', async () => {
    const server = await start({ limiter: limiter() });
    const ws = await client(server);
    const frame = (bytes: number) => {
      const head = JSON.stringify({ type: 'event', pad: '' });
      return JSON.stringify({ type: 'event', pad: 'x'.repeat(bytes - head.length) });
    };
    expect(Buffer.byteLength(frame(65_536))).toBe(65_536);
    expect(await request(ws, JSON.parse(frame(65_536)))).toEqual({ type: 'ack' });
    const done = closed(ws);
    ws.send(frame(65 * 1024));
    expect((await done).code).toBe(1009);
    await eventually(() => server.guard.connections.size === 0);
  });

  test('with permessage-deflate, a small frame that inflates past maxPayload closes with 1009', async () => {
    const server = await start({ limiter: limiter() }, { perMessageDeflate: true });
    const ws = await client(server, 'key-free', { perMessageDeflate: true });
    expect(ws.extensions).toContain('permessage-deflate');
    // 200 KB of one character deflates to a few hundred bytes on the wire.
    const message = JSON.stringify({ type: 'event', pad: 'a'.repeat(200_000) });
    const wire = await new Promise<number>((resolve) => {
      const socket = (ws as unknown as { _socket: { bytesWritten: number } })._socket;
      const before = socket.bytesWritten;
      ws.send(message, { compress: true }, () => resolve(socket.bytesWritten - before));
    });
    expect(wire).toBeLessThan(10_000);
    expect((await closed(ws)).code).toBe(1009);
  });

  test('a client that stops reading is dropped at the default ceiling, 4 × maxBufferedBytes, without waiting', async () => {
    const seen = warnings();
    let dropped: Promise<number> | undefined;
    let sent = 0;
    let maxBuffered = 0;
    const server = await start(
      // A minute of grace: only the ceiling (no option given: 1 MiB here) can drop it in time.
      { limiter: limiter(), maxBufferedBytes: 256 * 1024, bufferGraceMs: 60_000, onWarning: seen.onWarning },
      {
        onConnection: (conn) => {
          dropped = new Promise((resolve) => conn.once('close', (code) => resolve(code)));
          // Stream until the guard drops the client (bounded: 64 MiB at most).
          const chunk = Buffer.alloc(16 * 1024, 1);
          const pump = () => {
            for (let i = 0; i < 64; i++) {
              if (!conn.send(chunk)) return;
              sent += chunk.length;
              maxBuffered = Math.max(maxBuffered, conn.socket.bufferedAmount);
            }
            if (sent < 64 * 1024 * 1024) setImmediate(pump);
          };
          pump();
        },
      },
    );
    // A raw client that completes the handshake and then never reads again.
    const port = Number(new URL(server.url).port);
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      [
        'GET /ws HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'X-API-Key: key-free',
        '',
        '',
      ].join('\r\n'),
    );
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    try {
      await eventually(() => dropped !== undefined);
      expect(await dropped).toBe(1006);
      expect(sent).toBeLessThan(64 * 1024 * 1024);
      expect(maxBuffered).toBeGreaterThan(256 * 1024);
      expect(maxBuffered).toBeLessThanOrEqual(4 * 256 * 1024);
      expect(seen.codes).toContain('TL_WS_SLOW_CLIENT');
    } finally {
      socket.destroy();
    }
  });

  test('the heartbeat also drops a slow client the app wrote to directly', async () => {
    let dropped: Promise<number> | undefined;
    const server = await start(
      {
        limiter: limiter(),
        maxBufferedBytes: 64 * 1024,
        connections: { leaseTtlMs: 300, heartbeatMs: 100 },
        onWarning: () => undefined,
      },
      {
        onConnection: (conn) => {
          dropped = new Promise((resolve) => conn.once('close', (code) => resolve(code)));
          // Straight to ws, bypassing conn.send: only the heartbeat can notice.
          const chunk = Buffer.alloc(64 * 1024, 1);
          for (let i = 0; i < 256; i++) conn.socket.send(chunk);
        },
      },
    );
    const port = Number(new URL(server.url).port);
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-API-Key: key-free\r\n\r\n`,
    );
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    try {
      await eventually(() => dropped !== undefined);
      expect(await dropped).toBe(1006);
    } finally {
      socket.destroy();
    }
  });

  test("a flood on one socket does not hold up another socket's replies", async () => {
    const server = await start({ limiter: limiter(), violations: false });
    const flooder = await client(server, 'key-free');
    const calm = await client(server, 'key-free-2');
    let refusals = 0;
    flooder.on('message', () => refusals++);

    let flooding = true;
    let floodSent = 0;
    const flood = (async () => {
      const payload = event(0);
      // Bounded: at most 20,000 messages or 3 s, in bursts that let the event loop breathe.
      const started = Date.now();
      while (flooding && floodSent < 20_000 && Date.now() - started < 3_000) {
        for (let i = 0; i < 200; i++) flooder.send(payload);
        floodSent += 200;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    // Meanwhile, the calm socket sends within its rate and times each reply.
    const latencies: number[] = [];
    for (let i = 0; i < 8; i++) {
      const sentAt = Date.now();
      expect(await request(calm, { type: 'event', id: i })).toEqual({ type: 'ack', id: i });
      latencies.push(Date.now() - sentAt);
      await sleep(150);
    }
    flooding = false;
    await flood;
    expect(floodSent).toBeGreaterThan(1_000);
    await eventually(() => refusals > 100);
    // Generous: these machines are noisy. A calm socket stuck behind the flood would wait
    // for thousands of messages to be processed first.
    expect(Math.max(...latencies)).toBeLessThan(1_500);
  });
});
