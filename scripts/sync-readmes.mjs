#!/usr/bin/env node
/**
 * The option tables every package README repeats, written once. The core README holds
 * each shared part between `<!-- shared: NAME -->` and `<!-- /shared: NAME -->`; any other
 * README with the same pair of markers gets a copy, with links to the core README's own
 * sections (`](#store-faults)`) pointed at it (`](../core/README.md#store-faults)`), and its
 * tables re-padded by Biome (padding is not compared). So
 * adding a core option touches its type, its resolver and the core README; this script
 * (`npm run docs:sync`) does the rest, and `--check` (run by the test suite) fails while a
 * copy is out of date.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const SOURCE = 'packages/core/README.md';
const BLOCK = /<!-- shared: ([\w-]+) -->\n([\s\S]*?)<!-- \/shared: \1 -->/g;

/** Shared parts of the core README by name. */
function sharedParts() {
  const parts = new Map();
  for (const [, name, body] of readFileSync(join(root, SOURCE), 'utf8').matchAll(BLOCK)) parts.set(name, body);
  return parts;
}

/** `text` with every shared part replaced by the core's copy; throws on a part the core lacks. */
export function synced(file, text, parts = sharedParts()) {
  return text.replace(BLOCK, (_, name) => {
    const body = parts.get(name);
    if (body === undefined) throw new Error(`${file}: the core README has no shared part "${name}"`);
    return `<!-- shared: ${name} -->\n${body.replaceAll('](#', '](../core/README.md#')}<!-- /shared: ${name} -->`;
  });
}

/** `text` as compared: Biome re-pads Markdown tables, so runs of spaces and dashes are one. */
function normalized(text) {
  return text.replace(/ {2,}/g, ' ').replace(/-{3,}/g, '---');
}

export function readmes() {
  return readdirSync(join(root, 'packages'))
    .map((name) => `packages/${name}/README.md`)
    .filter((file) => file !== SOURCE)
    .filter((file) => {
      try {
        readFileSync(join(root, file));
        return true;
      } catch {
        return false;
      }
    });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const parts = sharedParts();
  const stale = [];
  for (const file of readmes()) {
    const text = readFileSync(join(root, file), 'utf8');
    const next = synced(file, text, parts);
    if (normalized(next) === normalized(text)) continue;
    stale.push(file);
    if (!check) writeFileSync(join(root, file), next);
  }
  if (!check && stale.length > 0) {
    // Re-pad the copied tables the way the repository's formatter does.
    execFileSync(join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', ...stale], { cwd: root });
  }
  if (check && stale.length > 0) {
    console.error(`Out of date with ${SOURCE}: ${stale.join(', ')}. Run \`npm run docs:sync\`.`);
    process.exit(1);
  }
  console.log(check ? 'shared README parts are in sync' : `updated: ${stale.join(', ') || 'nothing'}`);
}
