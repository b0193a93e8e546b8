/**
 * Finds every README in the repository and extracts its fenced code blocks, with the
 * README line each starts on and the directives of the `<!-- snippet: ... -->` comment
 * right above it (issue 13: "every code block in every README is a test").
 *
 * Directives, separated by `;` (an unknown one is an error, so a typo cannot switch a
 * check off):
 *
 *   esm                 an ES module only (it uses top-level `await`): checked and run as
 *                       ESM only; every other block must also compile as CommonJS
 *   browser             checked for a browser: DOM types, no Node types; never run
 *   fragment: <reason>  not compiled (a signature, an options excerpt); the reason is required
 *   get: <path>         the path requested from a server snippet (default `/`)
 *   header: <name>: <v> a header sent with that request (repeatable)
 *   status: <code>      the status that request must get (default: any below 500)
 *   run                 run a block that starts no server: it must exit with status 0
 *   demo: <framework>   run it against a demo API (`TIERLIMIT_URL` points at it)
 *
 * A block that calls `.listen(` is a server and is always run; one that mentions
 * `@tierlimit/redis`, `@tierlimit/client/redis`, `ioredis` or `REDIS_URL` gets `REDIS_URL`
 * when it runs. Directive values cannot contain `;`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export type BlockKind = 'code' | 'shell' | 'json' | 'other';

export interface SnippetDirectives {
  readonly esm: boolean;
  readonly browser: boolean;
  /** Why the block is not compiled; undefined when it is. */
  readonly fragment: string | undefined;
  readonly get: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly status: number | undefined;
  /** Run it although it starts no server (it must exit with status 0). Implied by `demo`. */
  readonly run: boolean;
  readonly demo: string | undefined;
}

export interface CodeBlock {
  /** The README, relative to the repository root, with `/` separators. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The first word of the info string, lower-cased ('' for none). */
  readonly lang: string;
  readonly kind: BlockKind;
  /** The content, with the fence's indentation removed. Line n of it is README line `line + n`. */
  readonly code: string;
  readonly directives: SnippetDirectives;
  /** Problems with the block's marker comment or fence. */
  readonly errors: readonly string[];
}

const CODE_LANGS = new Set(['ts', 'typescript', 'mts', 'cts', 'tsx', 'js', 'javascript', 'mjs', 'cjs', 'jsx']);
const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'zsh', 'console']);

export function kindOf(lang: string): BlockKind {
  if (CODE_LANGS.has(lang)) return 'code';
  if (SHELL_LANGS.has(lang)) return 'shell';
  if (lang === 'json') return 'json';
  return 'other';
}

/**
 * Every README.md of the repository outside node_modules: tracked files and new ones git
 * does not ignore (so a README is covered before its first commit). Without git, a walk.
 */
export function findReadmes(root: string): string[] {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
      .split('\0')
      .filter((file) => file !== '' && existsSync(join(root, file)));
  } catch {
    files = walk(root, root);
  }
  return files
    .filter((file) => /(^|\/)readme\.md$/i.test(file) && !file.split('/').includes('node_modules'))
    .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

function walk(root: string, dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...walk(root, path));
    else found.push(relative(root, path).split('\\').join('/'));
  }
  return found;
}

const MARKER = /^\s*<!--\s*snippet:([\s\S]*?)-->\s*$/;

/** Parses the text after `snippet:` in a marker comment. */
export function parseDirectives(text: string): { directives: SnippetDirectives; errors: string[] } {
  const errors: string[] = [];
  let esm = false;
  let browser = false;
  let fragment: string | undefined;
  let get = '/';
  const headers: Record<string, string> = {};
  let status: number | undefined;
  let run = false;
  let demo: string | undefined;
  for (const part of text.split(';')) {
    const directive = part.trim().replace(/\s+/g, ' ');
    if (directive === '') continue;
    const colon = directive.indexOf(':');
    const name = (colon === -1 ? directive : directive.slice(0, colon)).trim();
    const value = colon === -1 ? '' : directive.slice(colon + 1).trim();
    switch (name) {
      case 'esm':
        esm = true;
        break;
      case 'browser':
        browser = true;
        break;
      case 'fragment':
        if (value === '') errors.push('`fragment` needs a reason: `fragment: <why this block is not a program>`');
        fragment = value;
        break;
      case 'get':
        if (!value.startsWith('/')) errors.push(`\`get\` takes a path starting with /, got "${value}"`);
        get = value;
        break;
      case 'header': {
        const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s*(.*)$/.exec(value);
        if (match) headers[(match[1] as string).toLowerCase()] = match[2] as string;
        else errors.push(`\`header\` takes "Name: value", got "${value}"`);
        break;
      }
      case 'status':
        status = Number(value);
        if (!Number.isInteger(status) || status < 100 || status > 599)
          errors.push(`\`status\` takes an HTTP status, got "${value}"`);
        break;
      case 'run':
        run = true;
        break;
      case 'demo':
        run = true;
        if (!['express', 'koa', 'fastify'].includes(value))
          errors.push(`\`demo\` takes express, koa or fastify, got "${value}"`);
        demo = value;
        break;
      default:
        errors.push(`unknown snippet directive "${name}"`);
    }
  }
  if (fragment !== undefined && (esm || browser || run))
    errors.push('a `fragment` is not compiled, so it cannot also be `esm`, `browser`, `run` or `demo`');
  if (browser && run) errors.push('a `browser` block cannot `run` (the suite runs blocks on Node)');
  return { directives: { esm, browser, fragment, get, headers, status, run, demo }, errors };
}

/** The fenced code blocks of one Markdown text. */
export function extractBlocks(file: string, text: string): CodeBlock[] {
  const lines = text.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i] as string);
    if (!open) continue;
    const indent = (open[1] as string).length;
    const fence = open[2] as string;
    const info = (open[3] as string).trim();
    if (fence.startsWith('`') && info.includes('`')) continue; // not a fence (CommonMark 4.5)
    const lang = (info.split(/\s+/)[0] ?? '').toLowerCase();
    const errors: string[] = [];
    const closing = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !closing.test(lines[j] as string); j++) {
      const line = lines[j] as string;
      const strip = Math.min(indent, line.length - line.trimStart().length);
      body.push(line.slice(strip));
    }
    if (j >= lines.length) errors.push('the code block is never closed');

    // The marker: an HTML comment alone on the lines right above the fence (blank lines between are allowed).
    let k = i - 1;
    while (k >= 0 && (lines[k] as string).trim() === '') k--;
    let comment = '';
    if (k >= 0 && (lines[k] as string).trim().endsWith('-->')) {
      let start = k;
      while (start > 0 && !(lines[start] as string).includes('<!--')) start--;
      comment = lines.slice(start, k + 1).join('\n');
    }
    const marker = MARKER.exec(comment);
    const parsed = parseDirectives(marker ? (marker[1] as string) : '');
    errors.push(...parsed.errors);

    blocks.push({
      file,
      line: i + 1,
      lang,
      kind: kindOf(lang),
      code: `${body.join('\n')}\n`,
      directives: parsed.directives,
      errors,
    });
    i = j;
  }
  return blocks;
}

export function readmeBlocks(root: string): CodeBlock[] {
  return findReadmes(root).flatMap((file) => extractBlocks(file, readFileSync(join(root, file), 'utf8')));
}

/** `README.md:50` */
export function where(block: CodeBlock, offset = 0): string {
  return `${block.file}:${block.line + offset}`;
}

/** Whether a code block starts a server: it calls `listen(`. */
export function startsServer(block: CodeBlock): boolean {
  return /\.listen\(/.test(block.code);
}

/** Whether running a code block needs Redis. */
export function needsRedis(block: CodeBlock): boolean {
  return /@tierlimit\/(client\/)?redis|REDIS_URL|from 'ioredis'/.test(block.code);
}
