/**
 * The README code blocks as the files of a user's project, type-checked with the
 * TypeScript compiler API in one pass (one program for Node, one for blocks marked
 * `browser`, sharing their parsed library files).
 *
 * The project is a directory in the OS temp directory whose `node_modules` links to the
 * workspace's, so blocks see exactly the framework, Node and @types packages installed
 * here. `@tierlimit/*` is mapped to the workspace sources with `paths`, as the repository's
 * tsconfig.json and jest map it: no build is needed first, and scripts/pack-check.mjs
 * type-checks the built declarations separately.
 *
 * A block is written twice, as `esm/<name>.ts` (`"type": "module"`) and `cjs/<name>.ts`
 * (`"type": "commonjs"`), and checked under `module: nodenext` with the strict settings of
 * tsconfig.base.json: what a project created with `tsc --init` sees, in either module
 * system. A top-level `await` is an error in the CommonJS copy (TS1309), so a block that
 * needs one must be marked `esm`; its CommonJS copy is then checked only to prove that.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import type { CodeBlock } from './snippets';

const root = join(__dirname, '..', '..');

/** `@tierlimit/*` entries, resolved to the sources (the tsconfig.json and jest mapping). */
export const TIERLIMIT_PATHS: Record<string, string[]> = {
  '@tierlimit/core': [join(root, 'packages/core/src/index.ts')],
  '@tierlimit/core/prometheus': [join(root, 'packages/core/src/prometheus.ts')],
  '@tierlimit/core/testing': [join(root, 'packages/core/src/testing/index.ts')],
  '@tierlimit/client/redis': [join(root, 'packages/client/src/redis.ts')],
  ...Object.fromEntries(
    ['express', 'koa', 'fastify', 'redis', 'ws', 'client'].map((name) => [
      `@tierlimit/${name}`,
      [join(root, `packages/${name}/src/index.ts`)],
    ]),
  ),
};

/**
 * The strict settings of tsconfig.base.json. Not `verbatimModuleSyntax`: with it, a
 * CommonJS file may not use `import` at all, which is not how CommonJS users write TypeScript.
 */
const STRICT: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  forceConsistentCasingInFileNames: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  allowJs: true,
  checkJs: true,
  jsx: ts.JsxEmit.Preserve,
};

const NODE: ts.CompilerOptions = {
  ...STRICT,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
};

const BROWSER: ts.CompilerOptions = {
  ...STRICT,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  types: [],
};

export type ModuleFormat = 'esm' | 'cjs';

export interface SnippetFile {
  readonly block: CodeBlock;
  readonly format: ModuleFormat;
  readonly path: string;
  /** Only checked to prove that the block's `esm` marker is needed (it must fail as CommonJS). */
  readonly probe: boolean;
}

export interface SnippetDiagnostic {
  /** The file the error is in; undefined for an error of the project itself. */
  readonly file: SnippetFile | undefined;
  /** Its line in the block (1-based: README line = fence line + this), 0 when it has no position. */
  readonly line: number;
  readonly code: number;
  readonly message: string;
}

/** File extensions by language, and the module formats a language admits. */
const LANGUAGES: Record<string, { readonly extension: string; readonly formats: readonly ModuleFormat[] }> = {
  ts: { extension: '.ts', formats: ['esm', 'cjs'] },
  typescript: { extension: '.ts', formats: ['esm', 'cjs'] },
  tsx: { extension: '.tsx', formats: ['esm', 'cjs'] },
  mts: { extension: '.ts', formats: ['esm'] },
  cts: { extension: '.ts', formats: ['cjs'] },
  js: { extension: '.js', formats: ['esm', 'cjs'] },
  javascript: { extension: '.js', formats: ['esm', 'cjs'] },
  jsx: { extension: '.jsx', formats: ['esm', 'cjs'] },
  mjs: { extension: '.js', formats: ['esm'] },
  cjs: { extension: '.js', formats: ['cjs'] },
};

export class SnippetProject {
  readonly dir: string;
  readonly files: SnippetFile[] = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'tierlimit-snippets-'));
    symlinkSync(join(root, 'node_modules'), join(this.dir, 'node_modules'), 'junction');
    // For tsx, which runs the blocks: the same `@tierlimit/*` mapping.
    writeFileSync(
      join(this.dir, 'tsconfig.json'),
      `${JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', paths: TIERLIMIT_PATHS } }, null, 2)}\n`,
    );
    // A block's module format is its directory's, as in a user's project: "type": "module" or not.
    for (const [name, type] of [
      ['esm', 'module'],
      ['cjs', 'commonjs'],
      ['browser', 'module'],
    ]) {
      mkdirSync(join(this.dir, name as string));
      writeFileSync(join(this.dir, name as string, 'package.json'), `${JSON.stringify({ private: true, type })}\n`);
    }
  }

  /**
   * Writes a block's files: an ES module, and a CommonJS one unless the block is marked
   * `esm` or `browser`. A block marked `esm` also gets a CommonJS `probe`, type-checked
   * only to show that the marker is needed.
   */
  add(block: CodeBlock): SnippetFile[] {
    const language = LANGUAGES[block.lang] ?? { extension: '.ts', formats: ['esm', 'cjs'] };
    const name = `${block.file.replace(/[^A-Za-z0-9]+/g, '_')}_${block.line}${language.extension}`;
    const added: SnippetFile[] = [];
    for (const format of language.formats) {
      const probe = format === 'cjs' && block.directives.esm;
      if (format === 'cjs' && block.directives.browser) continue;
      const dir = block.directives.browser ? 'browser' : format;
      const path = join(this.dir, dir, name);
      writeFileSync(path, block.code);
      added.push({ block, format, path, probe });
    }
    this.files.push(...added);
    return added;
  }

  /** Type-checks every file added; the errors, mapped back to README lines. */
  typeCheck(): SnippetDiagnostic[] {
    const host = cachingHost();
    const diagnostics: SnippetDiagnostic[] = [];
    const groups: Array<[ts.CompilerOptions, SnippetFile[]]> = [
      [{ ...NODE, paths: TIERLIMIT_PATHS }, this.files.filter((file) => !file.block.directives.browser)],
      [{ ...BROWSER, paths: TIERLIMIT_PATHS }, this.files.filter((file) => file.block.directives.browser)],
    ];
    for (const [options, files] of groups) {
      if (files.length === 0) continue;
      const byPath = new Map(files.map((file) => [ts.sys.resolvePath(file.path), file]));
      const program = ts.createProgram({ rootNames: [...byPath.keys()], options, host });
      const all = [
        ...program.getOptionsDiagnostics(),
        ...program.getGlobalDiagnostics(),
        ...files.flatMap((file) => {
          const source = program.getSourceFile(file.path);
          return source ? [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)] : [];
        }),
      ];
      for (const diagnostic of all) {
        const file = diagnostic.file ? byPath.get(ts.sys.resolvePath(diagnostic.file.fileName)) : undefined;
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
        if (!file) {
          // Not in a block (the options, a global): every block is affected.
          diagnostics.push({ file: undefined, line: 0, code: diagnostic.code, message });
          continue;
        }
        const line =
          diagnostic.file && diagnostic.start !== undefined
            ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1
            : 0;
        diagnostics.push({ file, line, code: diagnostic.code, message });
      }
    }
    return diagnostics;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A compiler host that parses each library file once for both programs. */
function cachingHost(): ts.CompilerHost {
  const host = ts.createCompilerHost({});
  const cache = new Map<string, ts.SourceFile | undefined>();
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const version = typeof languageVersion === 'object' ? languageVersion.languageVersion : languageVersion;
    const format = typeof languageVersion === 'object' ? languageVersion.impliedNodeFormat : undefined;
    const key = `${fileName}\0${version}\0${format}`;
    if (!cache.has(key)) cache.set(key, getSourceFile(fileName, languageVersion, onError, shouldCreate));
    return cache.get(key);
  };
  return host;
}
