/**
 * Tiers kept in a JSON file: plan numbers change without a deploy. The file holds either
 * the tier map itself or `{ "tiers": { ... } }`; it is validated exactly like options, with
 * errors that name the path (`tiers.pro.events.burst`).
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { ConfigurationError } from './errors.js';
import type { RateLimiter } from './limiter.js';
import type { TierMap } from './tiers.js';
import { resolveTierMap } from './validate-options.js';

/** Reads and validates a tiers file. Throws a ConfigurationError naming the file and the bad path. */
export function loadTiers(path: string): TierMap {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`Cannot read the tiers file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(`The tiers file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const tiers =
    typeof parsed === 'object' && parsed !== null && 'tiers' in parsed ? (parsed as { tiers: unknown }).tiers : parsed;
  try {
    resolveTierMap(tiers, false);
  } catch (error) {
    if (error instanceof ConfigurationError)
      throw new ConfigurationError(`In the tiers file ${path}: ${error.message}`);
    throw error;
  }
  return tiers as TierMap;
}

/** Options of {@link watchTiers}. */
export interface WatchTiersOptions {
  /** Called when a changed file is invalid; the limiter keeps its current tiers. Default: `console.warn`. */
  readonly onError?: (error: Error) => void;
  /** Called after new tiers are in force. Default: none. */
  readonly onReload?: (tiers: TierMap) => void;
  /** Quiet time after a change before reading the file (editors write in bursts), ms. Default `100`. */
  readonly debounceMs?: number;
}

/**
 * Reloads `limiter`'s tiers whenever `path` changes. An invalid file is reported and
 * ignored: the limiter keeps the last good tiers. Returns a handle to stop watching.
 */
export function watchTiers(limiter: RateLimiter, path: string, options: WatchTiersOptions = {}): { close(): void } {
  const onError = options.onError ?? ((error) => console.warn(`[tierlimit] TL_TIERS_RELOAD_FAILED: ${error.message}`));
  const debounceMs = options.debounceMs ?? 100;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reload = () => {
    timer = undefined;
    try {
      const tiers = loadTiers(path);
      limiter.setTiers(tiers);
      options.onReload?.(tiers);
    } catch (error) {
      onError(error as Error);
    }
  };
  const watcher: FSWatcher = watch(path, () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(reload, debounceMs);
  });
  watcher.on('error', (error) => onError(error));
  watcher.unref();
  return {
    close() {
      if (timer !== undefined) clearTimeout(timer);
      watcher.close();
    },
  };
}
