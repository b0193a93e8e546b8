/**
 * Command-line arguments of `tierlimit-import` (Node only: imported by cli.ts, never by
 * index.ts). Secrets: the API key may come from `--key`, but `TIERLIMIT_API_KEY` is
 * preferred because a command line is visible to every user of the machine (`ps`).
 */
import { parseArgs } from 'node:util';

export const USAGE = `Usage: tierlimit-import <file.ndjson | -> --url <baseUrl> [options]

Sends every line of a newline-delimited JSON file as an event, in batches, paced to the
API's rate limit, and reports what could not be delivered.

Options:
  --url <baseUrl>        API base URL (or env TIERLIMIT_URL)
  --key <apiKey>         API key; prefer env TIERLIMIT_API_KEY, which \`ps\` does not show
  --batch-size <n>       events per request (default: the server's burst capacity)
  --concurrency <n>      requests in flight (default 4)
  --failed <out.ndjson>  write every event not delivered here, one per line, ready to re-import
  --json                 print the final report as JSON on stdout
  -h, --help             show this help

Exit status: 0 when every event was delivered, 1 when some were not, 2 on a usage
error, 130 when interrupted, 70 on an internal error.`;

export interface CliArgs {
  readonly input: string;
  readonly url: string;
  readonly apiKey: string;
  /** True when the key came from the command line (worth a warning). */
  readonly keyFromArgs: boolean;
  readonly batchSize: number | undefined;
  readonly concurrency: number | undefined;
  readonly failedPath: string | undefined;
  readonly json: boolean;
}

export type ParsedArgs = { readonly help: true } | { readonly help: false; readonly args: CliArgs };

/** Thrown for a usage mistake; the message is shown with the usage text. Never contains the key. */
export class UsageError extends Error {}

export function parseCliArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedArgs {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { help: true };
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? 'Missing the input file (use - for stdin).' : 'Expected exactly one input file.',
    );
  }
  const url = values.url ?? env.TIERLIMIT_URL;
  if (url === undefined || url === '') throw new UsageError('Missing --url (or env TIERLIMIT_URL).');
  const keyFromArgs = values.key !== undefined;
  const apiKey = values.key ?? env.TIERLIMIT_API_KEY;
  if (apiKey === undefined || apiKey === '') throw new UsageError('Missing the API key: set env TIERLIMIT_API_KEY.');
  return {
    help: false,
    args: {
      input: positionals[0] as string,
      url,
      apiKey,
      keyFromArgs,
      batchSize: count(values['batch-size'], '--batch-size'),
      concurrency: count(values.concurrency, '--concurrency'),
      failedPath: values.failed,
      json: values.json === true,
    },
  };
}

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      failed: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,6}$/.test(value))
    throw new UsageError(`Expected ${flag} to be a positive integer, got ${JSON.stringify(value)}.`);
  return Number(value);
}
