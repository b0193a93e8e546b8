/**
 * The send-buffer bound (issue 13): a client is dropped only when its buffer stays above
 * `maxBufferedBytes` for `bufferGraceMs`, or passes `bufferCeilingBytes`; one large publish
 * to a client that reads normally is a momentary spike, not a reason to drop it. Real `ws`
 * clients over 127.0.0.1; a client "stops reading" by pausing its underlying net socket.
 */
import type { Socket } from 'node:net';
import type { GuardedConnection, WebSocketGuardOptions } from '@tierlimit/ws';
import type { RawData, WebSocket } from 'ws';
import { closed, eventually, type GuardServer, guardSuite, sleep, warnings } from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The next frame, or how the connection ended if it closed first: a client dropped by
 * mistake fails the test at once, saying so, instead of waiting for a frame forever.
 */
function nextMessageOrClose(ws: WebSocket): Promise<Buffer | string> {
  return Promise.race([
    new Promise<Buffer>((resolve) => ws.once('message', (data: RawData) => resolve(data as Buffer))),
    closed(ws).then(({ code }) => `closed with ${code}`),
  ]);
}

/** A binary frame's size, or the 'closed with ...' that came instead. */
function sizeOrClose(frame: Buffer | string): number | string {
  return typeof frame === 'string' ? frame : frame.length;
}

/** Stops the client reading: the server's writes pile up in the kernel, then in ws's buffer. */
function stopReading(ws: WebSocket): void {
  (ws as unknown as { _socket: Socket })._socket.pause();
}

interface Publisher {
  /** Resolves with the close code once the guard drops the connection (or it closes). */
  readonly closed: Promise<number>;
  /** When a send was last seen taking the buffer over the cap, with no check under it since. */
  readonly overSince: () => number | undefined;
  /** The largest `bufferedAmount` seen after a send the guard accepted. */
  readonly maxBuffered: () => number;
  readonly sent: () => number;
  stop(): void;
}

/**
 * Publishes `chunk` every few ms through `conn.send` until the guard drops the client, `limit`
 * bytes are sent or 10 s pass, and watches `bufferedAmount` as the guard sees it: the guard
 * checks inside `conn.send`, so the value read right after is the one it judged.
 */
function publish(conn: GuardedConnection, cap: number, chunk: Buffer, limit = 128 * MiB): Publisher {
  const closed = new Promise<number>((resolve) => conn.once('close', (code) => resolve(code)));
  let overSince: number | undefined;
  let maxBuffered = 0;
  let sent = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    for (let i = 0; i < 4; i++) {
      if (!conn.send(chunk)) {
        clearInterval(timer);
        return;
      }
      sent += chunk.length;
      const buffered = conn.socket.bufferedAmount;
      maxBuffered = Math.max(maxBuffered, buffered);
      if (buffered <= cap) overSince = undefined;
      else overSince ??= Date.now();
    }
    if (sent >= limit || Date.now() - started > 10_000) clearInterval(timer);
  }, 5);
  return {
    closed,
    overSince: () => overSince,
    maxBuffered: () => maxBuffered,
    sent: () => sent,
    stop: () => clearInterval(timer),
  };
}

describe('slow consumers', () => {
  const { limiter, start, client, onCleanup } = guardSuite();

  /**
   * A server that starts `publish(conn, maxBufferedBytes, chunk, limit)` at the client's
   * first message, and a client that sends one and then stops reading; resolves once the
   * publisher runs and the client has stopped.
   */
  async function stalledClient(
    guardOptions: WebSocketGuardOptions & { readonly maxBufferedBytes: number },
    chunk: Buffer,
    limit?: number,
  ): Promise<{ server: GuardServer; publisher: Publisher }> {
    let publisher: Publisher | undefined;
    const server = await start(guardOptions, {
      onConnection: (conn) =>
        conn.on('message', () => {
          const started = publish(conn, guardOptions.maxBufferedBytes, chunk, limit);
          onCleanup(() => started.stop());
          publisher = started;
        }),
    });
    const ws = await client(server);
    ws.send('go');
    await eventually(() => publisher !== undefined);
    stopReading(ws);
    return { server, publisher: publisher as Publisher };
  }

  test('a client that reads normally survives one publish far larger than the cap', async () => {
    const seen = warnings();
    const cap = 64 * KiB;
    const graceMs = 1_000;
    const big = Buffer.alloc(4 * MiB, 7);
    let bufferedAfterPublish = 0;
    let publishAccepted: boolean | undefined;
    const server = await start(
      {
        limiter: limiter(),
        maxBufferedBytes: cap,
        bufferGraceMs: graceMs,
        bufferCeilingBytes: 16 * MiB,
        onWarning: seen.onWarning,
      },
      {
        onConnection: (conn) =>
          conn.on('message', (data) => {
            if (data.toString() !== 'publish') {
              conn.send(`echo:${data.toString()}`);
              return;
            }
            publishAccepted = conn.send(big);
            bufferedAfterPublish = conn.socket.bufferedAmount;
          }),
      },
    );
    const ws = await client(server);
    const received = nextMessageOrClose(ws);
    ws.send('publish');
    expect(sizeOrClose(await received)).toBe(big.length);
    expect(publishAccepted).toBe(true);
    // The spike this test is about: 64 times the cap, queued at once (the original guard
    // dropped the client right here, reading or not).
    expect(bufferedAfterPublish).toBeGreaterThan(16 * cap);

    // Past the end of the grace period, the connection is still there and still serves.
    await sleep(graceMs + 300);
    const echo = nextMessageOrClose(ws);
    ws.send('still here?');
    expect((await echo).toString()).toBe('echo:still here?');
    expect(ws.readyState).toBe(ws.OPEN);
    expect(server.guard.connections.size).toBe(1);
    expect(seen.codes).not.toContain('TL_WS_SLOW_CLIENT');
  });

  test('a client that stops reading is dropped bufferGraceMs after its buffer passed the cap, with one timer', async () => {
    const seen = warnings();
    const cap = 64 * KiB;
    const graceMs = 600;
    // Every timer the connection starts for the grace period has exactly this delay.
    const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
    try {
      const { publisher } = await stalledClient(
        {
          limiter: limiter(),
          maxBufferedBytes: cap,
          bufferGraceMs: graceMs,
          // Far away: only the grace period can drop this client.
          bufferCeilingBytes: 512 * MiB,
          onWarning: seen.onWarning,
        },
        Buffer.alloc(16 * KiB, 1),
      );
      const code = await publisher.closed;
      const droppedAt = Date.now();

      expect(code).toBe(1006);
      expect(seen.codes).toContain('TL_WS_SLOW_CLIENT');
      const overSince = publisher.overSince();
      expect(overSince).toBeDefined();
      const overFor = droppedAt - (overSince as number);
      // Not before the grace period (a timer never fires early by more than a ms or so)...
      expect(overFor).toBeGreaterThanOrEqual(graceMs - 25);
      // ...and not much after it: the documented bound, plus room for a loaded machine.
      expect(overFor).toBeLessThan(graceMs + 1_500);
      // Hundreds of sends over the cap during the grace period, and one timer for them all.
      expect(publisher.sent()).toBeGreaterThan(100 * 16 * KiB);
      const graceTimers = setTimeoutSpy.mock.calls.filter(([, delay]) => delay === graceMs);
      expect(graceTimers).toHaveLength(1);
    } finally {
      setTimeoutSpy.mockRestore();
    }
  });

  test('a client that stops reading is dropped at bufferCeilingBytes without waiting for the grace period', async () => {
    const seen = warnings();
    const cap = 64 * KiB;
    const ceiling = 1 * MiB;
    const { server, publisher } = await stalledClient(
      {
        limiter: limiter(),
        maxBufferedBytes: cap,
        bufferGraceMs: 60_000,
        bufferCeilingBytes: ceiling,
        onWarning: seen.onWarning,
      },
      Buffer.alloc(64 * KiB, 1),
      256 * MiB,
    );
    const sentAt = Date.now();
    expect(await publisher.closed).toBe(1006);
    // Long before the minute of grace: the ceiling, not the timer, dropped it.
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(publisher.sent()).toBeLessThan(256 * MiB);
    // What this process held for the client never went past the ceiling.
    expect(publisher.maxBuffered()).toBeLessThanOrEqual(ceiling);
    expect(publisher.maxBuffered()).toBeGreaterThan(cap);
    expect(seen.codes).toContain('TL_WS_SLOW_CLIENT');
    await eventually(() => server.guard.connections.size === 0);
  });

  test('bufferGraceMs: 0 drops at the first check over the cap', async () => {
    const cap = 64 * KiB;
    const { publisher } = await stalledClient(
      {
        limiter: limiter(),
        maxBufferedBytes: cap,
        bufferGraceMs: 0,
        bufferCeilingBytes: 512 * MiB,
        onWarning: () => undefined,
      },
      Buffer.alloc(16 * KiB, 1),
    );
    expect(await publisher.closed).toBe(1006);
    // Dropped by the very send that took it over the cap: no send was ever accepted above it.
    expect(publisher.maxBuffered()).toBeLessThanOrEqual(cap);
  });

  test('a check under the cap ends the grace period: a later spike gets a grace period of its own', async () => {
    const cap = 64 * KiB;
    const graceMs = 500;
    let dropped: Promise<number> | undefined;
    let firstSpikeBuffered = 0;
    let secondSpikeAt = 0;
    const server = await start(
      {
        limiter: limiter(),
        maxBufferedBytes: cap,
        bufferGraceMs: graceMs,
        bufferCeilingBytes: 64 * MiB,
        onWarning: () => undefined,
      },
      {
        onConnection: (conn) => {
          dropped = new Promise((resolve) => conn.once('close', (code) => resolve(code)));
          conn.on('message', (data) => {
            const command = data.toString();
            if (command === 'spike') {
              conn.send(Buffer.alloc(4 * MiB, 1));
              firstSpikeBuffered = conn.socket.bufferedAmount;
            } else if (command === 'ping') {
              conn.send('pong');
            } else {
              conn.send(Buffer.alloc(8 * MiB, 1));
              // After the send: the guard's check, and so its timer, ran inside it.
              secondSpikeAt = Date.now();
            }
          });
        },
      },
    );
    const ws = await client(server);
    // First spike, read at once; the pong's send finds the buffer under the cap again.
    const spikeAt = Date.now();
    const spike = nextMessageOrClose(ws);
    ws.send('spike');
    expect(sizeOrClose(await spike)).toBe(4 * MiB);
    expect(firstSpikeBuffered).toBeGreaterThan(cap);
    const pong = nextMessageOrClose(ws);
    ws.send('ping');
    expect((await pong).toString()).toBe('pong');
    // Then the client stops reading and a second spike comes, before the first grace period
    // would have ended. A timer left over from the first spike would drop it too early.
    await sleep(Math.max(0, spikeAt + graceMs - 200 - Date.now()));
    stopReading(ws);
    ws.send('stall');
    await eventually(() => dropped !== undefined && secondSpikeAt > 0);
    expect(await dropped).toBe(1006);
    expect(Date.now() - secondSpikeAt).toBeGreaterThanOrEqual(graceMs - 25);
  });
});
