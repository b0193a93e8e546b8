/**
 * Every code block in every README is a test (issue 13, item 7: documentation that is
 * safe to copy). A new user who copied the README examples hit undefined names and
 * crashes; this suite reads every README.md in the repository and checks each fenced block
 * by its language:
 *
 * - TypeScript and JavaScript: type-checked on its own, as a file of a fresh user project
 *   (snippet-project.ts), as an ES module and, unless marked `esm`, as CommonJS; blocks
 *   marked `browser` against the DOM instead of Node.
 * - A block that starts a server is run with tsx on loopback (snippet-runner.ts) and gets
 *   one request, which must not be answered 5xx (or must get the marker's `status`), then
 *   the same request with the API key `constructor`, which must not either. Blocks marked
 *   `run` or `demo` run to completion (`demo`: against a demo API). Blocks that use Redis
 *   get a private redis-server.
 * - Shell: every `npm run X` / `pnpm X` names a script that exists, every `node path` a
 *   file that exists. JSON: parses. Other blocks (header listings, HTTP exchanges) are text.
 *
 * The markers (an HTML comment right above a block) are listed in snippets.ts and in the
 * root README's Development section.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type DemoProcess, startDemo, stopDemo } from '../support/demo-process';
import { RedisServer, redisAvailable } from '../support/redis-server';
import { type SnippetDiagnostic, type SnippetFile, SnippetProject } from './snippet-project';
import { type RunResult, runSnippet } from './snippet-runner';
import { type CodeBlock, needsRedis, readmeBlocks, startsServer, where } from './snippets';

const root = join(__dirname, '..', '..');
const blocks = readmeBlocks(root);
const compiled = blocks.filter(
  (block) => block.kind === 'code' && block.directives.fragment === undefined && block.errors.length === 0,
);

/** How long a block may take to listen (servers) or to finish (`demo` blocks), in ms. */
const RUN_TIMEOUT_MS = 30_000;
/** Blocks run at once: these machines have 2 cores, shared. */
const RUN_CONCURRENCY = 2;

const project = new SnippetProject();
const files = new Map<CodeBlock, SnippetFile[]>(compiled.map((block) => [block, project.add(block)]));

afterAll(() => project.remove());

test('finds every README and its code blocks', () => {
  const readmes = new Set(blocks.map((block) => block.file));
  const packageReadmes = readdirSync(join(root, 'packages'))
    .map((name) => `packages/${name}/README.md`)
    .filter((file) => existsSync(join(root, file)));
  expect(packageReadmes.length).toBeGreaterThan(0);
  for (const file of ['README.md', ...packageReadmes]) expect(readmes).toContain(file);
  expect(compiled.length).toBeGreaterThan(10);
});

test('every snippet marker is well-formed', () => {
  const problems = blocks.flatMap((block) => block.errors.map((error) => `${where(block)}: ${error}`));
  expect(problems).toEqual([]);
});

test('every TypeScript and JavaScript block type-checks as written, in a fresh project', () => {
  const diagnostics = project.typeCheck();
  const problems: Problem[] = [];

  for (const [block, blockFiles] of files) {
    const own = (file: SnippetFile) => diagnostics.filter((diagnostic) => diagnostic.file === file);
    // The same error in the ESM and the CommonJS copy is listed once, naming both.
    const seen = new Map<string, { diagnostic: SnippetDiagnostic; forms: string[] }>();
    for (const file of blockFiles.filter((f) => !f.probe)) {
      const form = block.directives.browser ? 'browser' : file.format === 'esm' ? 'ESM' : 'CommonJS';
      for (const diagnostic of own(file)) {
        const key = `${diagnostic.line} ${diagnostic.code} ${diagnostic.message}`;
        const entry = seen.get(key) ?? { diagnostic, forms: [] };
        entry.forms.push(form);
        seen.set(key, entry);
      }
    }
    for (const { diagnostic, forms } of seen.values()) {
      problems.push({
        block,
        line: diagnostic.line,
        text: `TS${diagnostic.code} ${diagnostic.message.replace(/\s*\n\s*/g, ' ')} [${forms.join(', ')}]`,
      });
    }

    const probe = blockFiles.find((f) => f.probe);
    if (probe && own(probe).length === 0)
      problems.push({ block, line: 0, text: 'marked `esm`, but it compiles as CommonJS too: drop the marker' });
  }
  const report = sortProblems(problems);
  for (const diagnostic of diagnostics.filter((d) => d.file === undefined))
    report.push(`(the snippet project) TS${diagnostic.code} ${diagnostic.message}`);
  expect(report).toEqual([]);
}, 120_000);

interface Problem {
  readonly block: CodeBlock;
  /** The line in the block (1 is the line after the fence), 0 for the block as a whole. */
  readonly line: number;
  readonly text: string;
}

/** `README.md:59 (block at 50): ...`, by file, then line. */
function sortProblems(problems: readonly Problem[]): string[] {
  return [...problems]
    .sort((a, b) => a.block.file.localeCompare(b.block.file) || a.block.line + a.line - (b.block.line + b.line))
    .map(({ block, line, text }) => `${where(block, line)}${line === 0 ? '' : ` (block at ${block.line})`}: ${text}`);
}

test('shell blocks only run scripts and files that exist', () => {
  const problems: string[] = [];
  for (const block of blocks.filter((b) => b.kind === 'shell')) {
    const dir = dirname(join(root, block.file));
    const scripts = new Set([...scriptsOf(root), ...scriptsOf(dir)]);
    block.code.split('\n').forEach((text, index) => {
      const command = text.replace(/(^|\s)#.*$/, '');
      const at = `${where(block, index + 1)}`;
      for (const match of command.matchAll(/\bnpm (?:run(?:-script)? ([\w:.-]+)|(test|start|stop|restart)\b)/g)) {
        const script = (match[1] ?? match[2]) as string;
        if (!scripts.has(script)) problems.push(`${at}: \`${match[0]}\`: no script "${script}" in package.json`);
      }
      for (const match of command.matchAll(/\bpnpm (?:run )?([\w:.-]+)/g)) {
        const script = match[1] as string;
        if (!PNPM_COMMANDS.has(script) && !scripts.has(script))
          problems.push(`${at}: \`${match[0]}\`: no script "${script}" in package.json`);
      }
      for (const match of command.matchAll(/\bnode ([\w./-]+\.[cm]?[jt]s)\b/g)) {
        const path = match[1] as string;
        if (!existsSync(join(root, path)) && !existsSync(join(dir, path)))
          problems.push(`${at}: \`${match[0]}\`: no file ${path}`);
      }
    });
  }
  expect(problems).toEqual([]);
});

/** pnpm's own commands (`pnpm install`), which are not package scripts. */
const PNPM_COMMANDS = new Set(
  'add audit bin config create dedupe deploy dlx env exec fetch i import init install licenses link list ls outdated pack patch prune publish rebuild remove rm root setup store unlink update up why'.split(
    ' ',
  ),
);

function scriptsOf(dir: string): string[] {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return [];
  return Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { scripts?: object }).scripts ?? {});
}

test('JSON blocks parse', () => {
  const problems: string[] = [];
  for (const block of blocks.filter((b) => b.kind === 'json')) {
    try {
      JSON.parse(block.code);
    } catch (error) {
      problems.push(`${where(block)}: ${(error as Error).message}`);
    }
  }
  expect(problems).toEqual([]);
});

describe('blocks that run', () => {
  const runnable = compiled.filter(
    (block) => !block.directives.browser && (startsServer(block) || block.directives.run),
  );
  // Under CI a missing redis-server fails here: CI must run every block.
  const withRedis = redisAvailable();
  const toRun = runnable.filter((block) => withRedis || !needsRedis(block));
  const skipped = runnable.filter((block) => !toRun.includes(block));
  let redis: RedisServer | undefined;
  const demos = new Map<string, Promise<DemoProcess>>();
  const results = new Map<CodeBlock, Promise<RunResult>>();

  beforeAll(async () => {
    if (toRun.some(needsRedis)) redis = await RedisServer.start();
    const limited = limit(RUN_CONCURRENCY);
    // Started here, all of them, RUN_CONCURRENCY at a time; each test waits for its own.
    for (const block of toRun)
      results.set(
        block,
        limited(() => run(block)),
      );
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled(results.values());
    await Promise.all([...demos.values()].map(async (demo) => stopDemo(await demo.catch(() => undefined))));
    await redis?.stop();
  });

  async function run(block: CodeBlock): Promise<RunResult> {
    const env: Record<string, string> = { TSX_TSCONFIG_PATH: join(project.dir, 'tsconfig.json') };
    if (redis && needsRedis(block)) env.REDIS_URL = redis.url;
    const framework = block.directives.demo;
    if (framework !== undefined) {
      if (!demos.has(framework)) demos.set(framework, startDemo(framework));
      env.TIERLIMIT_URL = (await demos.get(framework)?.then((demo) => demo.url)) ?? '';
    }
    // A block that compiles both ways runs as CommonJS: what `npm init` creates, and where a
    // top-level await crashes.
    const format = block.directives.esm ? 'esm' : 'cjs';
    const file = files.get(block)?.find((f) => f.format === format && !f.probe);
    if (!file) throw new Error(`${where(block)}: no ${format} file to run`);
    return runSnippet(block, {
      file: file.path,
      cwd: project.dir,
      env,
      server: startsServer(block),
      timeoutMs: RUN_TIMEOUT_MS,
    });
  }

  if (toRun.length > 0) {
    test.each(toRun.map((block) => [where(block), block] as const))(
      '%s runs',
      async (_where, block) => {
        const result = await results.get(block);
        expect(result?.failure).toBeUndefined();
      },
      // Its wait for a free slot, its start, its request or its end, and the stop.
      3 * RUN_TIMEOUT_MS,
    );
  }
  if (skipped.length > 0) {
    console.warn(
      `skipping ${skipped.map((block) => where(block)).join(', ')}: they need Redis and redis-server is not installed (apt-get install redis-server)`,
    );
    test.skip.each(skipped.map((block) => [where(block)]))('%s runs', () => undefined);
  }
});

/** Runs at most `concurrency` tasks at once; the others wait their turn, in order. */
function limit(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active < concurrency) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
