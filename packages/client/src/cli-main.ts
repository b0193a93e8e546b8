/**
 * `tierlimit-import`: sends an NDJSON file to the events API with `client.bulkImport`,
 * shows progress on stderr, prints a final report, and writes every event that was not
 * delivered to a file that can be imported again. Node only (file streams, signals);
 * index.ts never imports this file, so browser bundles never see it.
 *
 * Resuming is by re-import: failed events are written with the ids the client gave them,
 * so re-importing the failed file cannot store an event twice on a server that drops
 * repeats by id. When the import stops early (Ctrl-C, a 401), the lines never read are
 * copied to the failed file too, so that one file is everything still to send.
 */
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { BulkImportError, type BulkImportProgress, type BulkImportReport, type FailedItem } from './bulk-import.js';
import { type CliArgs, parseCliArgs, USAGE, UsageError } from './cli-args.js';
import { formatProgress, formatReport } from './cli-progress.js';
import { createClient, type TierlimitClient } from './client.js';
import { TierlimitClientError } from './errors.js';

/** What the importer talks to; tests pass their own. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stdin: Readable;
  /** The fetch to use. Default: the global one. */
  readonly fetch?: typeof fetch;
  /** Registers a Ctrl-C handler; returns a function that removes it. Default: SIGINT and SIGTERM. */
  readonly onInterrupt?: (handler: () => void) => () => void;
  /** Progress refresh period, in ms: how often the line is redrawn even when no batch settles. */
  readonly progressIntervalMs?: number;
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

function defaultOnInterrupt(handler: () => void): () => void {
  let count = 0;
  const listener = () => {
    // A second Ctrl-C means "now": skip the orderly stop and the copying of unread lines.
    if (++count > 1) process.exit(EXIT_INTERRUPTED);
    handler();
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}

/** Runs the importer; resolves with the exit status. */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number> {
  let args: CliArgs;
  try {
    const parsed = parseCliArgs(argv, env);
    if (parsed.help) {
      io.stdout.write(`${USAGE}\n`);
      return EXIT_OK;
    }
    args = parsed.args;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`tierlimit-import: ${error.message}\n\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (args.keyFromArgs) {
    io.stderr.write(
      'tierlimit-import: warning: --key is visible to other users in the process list; prefer env TIERLIMIT_API_KEY.\n',
    );
  }

  let client: TierlimitClient;
  try {
    client = createClient({
      baseUrl: args.url,
      apiKey: args.apiKey,
      ...(io.fetch === undefined ? {} : { fetch: io.fetch }),
      ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
    });
  } catch (error) {
    io.stderr.write(`tierlimit-import: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }

  const fromStdin = args.input === '-';
  if (args.failedPath !== undefined && !fromStdin && resolve(args.failedPath) === resolve(args.input)) {
    io.stderr.write(
      'tierlimit-import: --failed must not be the input file (it would be overwritten before it is read).\n',
    );
    return EXIT_USAGE;
  }
  let totalBytes: number | undefined;
  let input: Readable;
  let failedFile: FileHandle | undefined;
  try {
    if (fromStdin) {
      input = io.stdin;
    } else {
      totalBytes = (await stat(args.input)).size;
      input = createReadStream(args.input);
    }
    // Opened before importing, so an unwritable path fails now rather than after an hour of sending.
    if (args.failedPath !== undefined) failedFile = await open(args.failedPath, 'w');
  } catch (error) {
    io.stderr.write(`tierlimit-import: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }

  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
  let bytesRead = 0;
  let lineNumber = 0;
  const unparsable: FailedItem[] = [];
  // Pulls from `lines` by hand rather than with for-await, so that when bulkImport stops
  // early and closes this generator, the line iterator stays open for copying the rest.
  async function* events(): AsyncGenerator<unknown> {
    for (;;) {
      const next = await lines.next();
      if (next.done === true) return;
      const line = next.value;
      lineNumber++;
      bytesRead += Buffer.byteLength(line) + 1;
      if (line.trim() === '') continue;
      try {
        yield JSON.parse(line) as unknown;
      } catch (error) {
        unparsable.push({
          item: line,
          error: Object.assign(error as Error, { code: 'INVALID_JSON', line: lineNumber }),
        });
      }
    }
  }

  const controller = new AbortController();
  let interrupted = false;
  const removeInterrupt = (io.onInterrupt ?? defaultOnInterrupt)(() => {
    interrupted = true;
    io.stderr.write('\ntierlimit-import: stopping; waiting for requests in flight (Ctrl-C again to quit at once)...\n');
    controller.abort(new DOMException('Interrupted by the user.', 'AbortError'));
  });

  const tty = io.stderr.isTTY === true;
  let latest: BulkImportProgress | undefined;
  const started = Date.now();
  const draw = () => {
    const base = latest ?? { pulled: 0, sent: 0, duplicates: 0, failed: 0, retried: 0, rateLimited: 0, elapsedMs: 0 };
    const line = formatProgress({
      ...base,
      failed: base.failed + unparsable.length,
      elapsedMs: Date.now() - started,
      bytesRead,
      totalBytes,
    });
    io.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  const timer = setInterval(draw, io.progressIntervalMs ?? (tty ? 500 : 10_000));
  timer.unref?.();

  let report: BulkImportReport;
  let sourceError: unknown;
  try {
    report = await client.bulkImport(events(), {
      signal: controller.signal,
      ...(args.batchSize === undefined ? {} : { batchSize: args.batchSize }),
      onProgress: (progress) => {
        latest = progress;
        if (tty) draw();
      },
    });
  } catch (error) {
    if (!(error instanceof BulkImportError)) throw error;
    report = error.report;
    sourceError = error.cause;
  } finally {
    clearInterval(timer);
  }
  draw();
  if (tty) io.stderr.write('\n');

  const failed = [...unparsable, ...report.failed];
  let unread = 0;
  try {
    if (failedFile !== undefined) {
      const out = failedFile.createWriteStream({ encoding: 'utf8' });
      const write = async (text: string) => {
        if (!out.write(text)) await once(out, 'drain');
      };
      // Unparsable lines go back verbatim (to be fixed by hand); events as sent, with their ids.
      for (const { item } of unparsable) await write(`${item as string}\n`);
      for (const { item } of report.failed) await write(`${JSON.stringify(item)}\n`);
      if (report.stopReason !== undefined && sourceError === undefined) {
        // Everything after the stop was never read: keep it, so the failed file is the whole remainder.
        for (let next = await lines.next(); next.done !== true; next = await lines.next()) {
          if (next.value.trim() === '') continue;
          unread++;
          await write(`${next.value}\n`);
        }
      }
      out.end();
      await once(out, 'close');
    }
  } catch (error) {
    io.stderr.write(`tierlimit-import: could not write ${args.failedPath}: ${(error as Error).message}\n`);
  } finally {
    removeInterrupt();
    input.destroy();
  }

  const fullReport: BulkImportReport = { ...report, failed };
  if (args.json) {
    io.stdout.write(
      `${JSON.stringify({
        sent: report.sent,
        duplicates: report.duplicates,
        failed: failed.length,
        unread,
        retried: report.retried,
        rateLimited: report.rateLimited,
        durationMs: report.durationMs,
        interrupted,
        ...(args.failedPath === undefined ? {} : { failedFile: args.failedPath }),
      })}\n`,
    );
  } else {
    io.stdout.write(`${formatReport(fullReport, { failedPath: args.failedPath, interrupted, unread })}\n`);
  }
  if (sourceError !== undefined) {
    io.stderr.write(`tierlimit-import: reading the input failed: ${describe(sourceError)}\n`);
  }
  if (report.stopReason !== undefined && !interrupted && args.failedPath === undefined) {
    io.stderr.write(`tierlimit-import: the input after line ${lineNumber} was not read.\n`);
  }
  if (interrupted) return EXIT_INTERRUPTED;
  return failed.length > 0 || unread > 0 || report.stopReason !== undefined || sourceError !== undefined
    ? EXIT_FAILED
    : EXIT_OK;
}

function describe(error: unknown): string {
  if (error instanceof TierlimitClientError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
