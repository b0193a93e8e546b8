/**
 * The `tierlimit-import` command, run as a real process (tsx on the TypeScript entry)
 * against a small events API on 127.0.0.1: the report, the failed file and its
 * re-import, exit codes, stdin, and the API key never appearing in any output.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const cli = join(root, 'packages', 'client', 'src', 'cli.ts');
const KEY = 'sk_test_do_not_print_me';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      tsx,
      [cli, ...args],
      { cwd: root, env: { ...process.env, TIERLIMIT_API_KEY: '', TIERLIMIT_URL: '', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/** A minimal events API: auth, burst capacity 100 (413 above it), dedupe by id, scripted 429s and 400s. */
class TestApi {
  server: Server;
  url = '';
  readonly stored = new Map<string, Record<string, unknown>>();
  readonly keysSeen = new Set<string>();
  tooManyRequests = 0;
  rejectName: string | undefined;

  constructor() {
    this.server = createServer((req, res) => {
      void this.#handle(req).then(([status, body, headers]) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      });
    });
  }

  async #handle(req: IncomingMessage): Promise<[number, unknown, Record<string, string>]> {
    let text = '';
    for await (const chunk of req) text += chunk;
    const key = String(req.headers['x-api-key']);
    this.keysSeen.add(key);
    if (key !== KEY) return [401, { error: { code: 'UNAUTHORIZED', message: 'Unknown key.' } }, {}];
    const limits = {
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '100',
      'X-RateLimit-Reset': String(Math.ceil(Date.now() / 1000)),
    };
    if (this.tooManyRequests > 0) {
      this.tooManyRequests--;
      return [429, { error: { code: 'RATE_LIMITED', message: 'Slow down.' } }, { ...limits, 'Retry-After': '0' }];
    }
    const { events } = JSON.parse(text) as { events: Array<Record<string, unknown>> };
    if (events.length > 100) {
      return [413, { error: { code: 'BATCH_TOO_LARGE', message: 'Too large.', details: { limit: 100 } } }, limits];
    }
    if (events.some((event) => event.name === this.rejectName)) {
      return [400, { error: { code: 'INVALID_EVENT', message: 'Rejected by policy.' } }, limits];
    }
    let duplicates = 0;
    for (const event of events) {
      if (this.stored.has(String(event.id))) duplicates++;
      else this.stored.set(String(event.id), event);
    }
    return [202, { accepted: events.length - duplicates, duplicates }, limits];
  }

  listen(): Promise<void> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => {
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        resolve();
      }),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

let api: TestApi;
let dir: string;

beforeEach(async () => {
  api = new TestApi();
  await api.listen();
  dir = mkdtempSync(join(tmpdir(), 'tierlimit-import-'));
});

afterEach(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

function writeInput(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const neverShowsKey = (run: Run) => {
  expect(run.stdout).not.toContain(KEY);
  expect(run.stderr).not.toContain(KEY);
};

test('imports a file, reports, writes the undeliverable lines to --failed, and exits 1', async () => {
  const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ name: 'import', n: i }));
  lines.splice(10, 0, '{not json', '', '   ');
  lines.splice(20, 0, JSON.stringify({ nome: 'typo' }));
  const input = writeInput('events.ndjson', lines);
  const failedPath = join(dir, 'failed.ndjson');
  api.tooManyRequests = 1;

  const run = await runCli([input, '--url', api.url, '--failed', failedPath, '--batch-size', '40'], {
    TIERLIMIT_API_KEY: KEY,
  });

  expect(run.code).toBe(1);
  expect(api.stored.size).toBe(250);
  expect(run.stdout).toMatch(/sent\s+250/);
  expect(run.stdout).toMatch(/failed\s+2/);
  expect(run.stdout).toMatch(/429s seen\s+1/);
  expect(run.stdout).toContain('INVALID_JSON');
  expect(run.stdout).toContain('INVALID_EVENT');
  expect(run.stderr).toMatch(/events .* ev\/s/); // the progress line
  expect(readFileSync(failedPath, 'utf8').split('\n').filter(Boolean)).toEqual(['{not json', '{"nome":"typo"}']);
  neverShowsKey(run);
});

test('events that failed are written with their ids; re-importing the file sends them with the same ids', async () => {
  const input = writeInput('events.ndjson', [
    JSON.stringify({ name: 'good' }),
    JSON.stringify({ name: 'held-back', n: 1 }),
    JSON.stringify({ name: 'good' }),
  ]);
  const failedPath = join(dir, 'failed.ndjson');
  api.rejectName = 'held-back';
  const first = await runCli([input, '--url', api.url, '--failed', failedPath], { TIERLIMIT_API_KEY: KEY });
  expect(first.code).toBe(1);
  const failedLines = readFileSync(failedPath, 'utf8').trim().split('\n');
  expect(failedLines).toHaveLength(1);
  const failed = JSON.parse(failedLines[0] as string) as { id: string; name: string };
  expect(failed).toMatchObject({ name: 'held-back', n: 1 });
  expect(failed.id).toEqual(expect.any(String));

  api.rejectName = undefined;
  const again = await runCli([failedPath, '--url', api.url, '--json'], { TIERLIMIT_API_KEY: KEY });
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ sent: 1, failed: 0, duplicates: 0 });
  expect(api.stored.get(failed.id)).toMatchObject({ name: 'held-back' });
  expect(api.stored.size).toBe(3);
});

test('reads stdin with -, and exits 0 when everything was delivered', async () => {
  const input = `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ name: 'piped', n: i })).join('\n')}\n`;
  const run = await runCli(['-', '--url', api.url, '--json'], { TIERLIMIT_API_KEY: KEY }, input);
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ sent: 30, failed: 0, rateLimited: 0 });
  expect(api.stored.size).toBe(30);
});

test('a rejected key stops at once with exit 1; --key works but warns, and the key is never printed', async () => {
  const input = writeInput(
    'events.ndjson',
    Array.from({ length: 500 }, (_, i) => JSON.stringify({ name: 'e', n: i })),
  );
  const run = await runCli([input, '--url', api.url, '--key', `${KEY}-wrong`]);
  expect(run.code).toBe(1);
  expect(run.stderr).toContain('--key is visible to other users');
  expect(run.stdout).toContain('UNAUTHORIZED');
  expect(api.keysSeen).toEqual(new Set([`${KEY}-wrong`]));
  expect(run.stdout).not.toContain(`${KEY}-wrong`);
  expect(run.stderr).not.toContain(`${KEY}-wrong`);
});

test('usage errors exit 2 with a message; --help exits 0', async () => {
  const noKey = await runCli(['events.ndjson', '--url', api.url]);
  expect(noKey.code).toBe(2);
  expect(noKey.stderr).toContain('Missing the API key: set env TIERLIMIT_API_KEY.');

  const badCount = await runCli(['events.ndjson', '--url', api.url, '--concurrency', 'many'], {
    TIERLIMIT_API_KEY: KEY,
  });
  expect(badCount.code).toBe(2);
  expect(badCount.stderr).toContain('Expected --concurrency to be a positive integer, got "many".');

  const sameFile = await runCli([join(dir, 'x.ndjson'), '--url', api.url, '--failed', join(dir, 'x.ndjson')], {
    TIERLIMIT_API_KEY: KEY,
  });
  expect(sameFile.code).toBe(2);

  const missing = await runCli([join(dir, 'nope.ndjson'), '--url', api.url], { TIERLIMIT_API_KEY: KEY });
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('ENOENT');
  neverShowsKey(missing);

  const help = await runCli(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Usage: tierlimit-import');
});
