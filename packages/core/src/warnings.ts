/**
 * Operational warnings, reported with a stable code: the one helper every package uses to
 * decide how often a warning is worth repeating.
 *
 * - `once`: once per code for this reporter (a limiter, a store): a misconfiguration seen
 *   on a request, which will not change while the process runs.
 * - `perProcess`: once per code per process and destination, however many limiters see it
 *   (a deployment setting such as the framework's trust-proxy setting; issue 13).
 * - `episode`: once per code per episode: the caller ends the episode with `endEpisode`
 *   (a store outage warns again when a second outage starts hours later; issue 13).
 */

/** An operational warning. */
export interface Warning {
  /** Stable code, for example `TL_NO_CLIENT_IP`. */
  readonly code: string;
  /** Human-readable text. Never contains an API key. */
  readonly message: string;
  /** The underlying error, when there is one (a resolver or store failure). */
  readonly error?: unknown;
}

/** Where warnings go. */
export type WarningSink = (warning: Warning) => void;

export interface Warner {
  /** Every time: the caller decides how often (once per route, say). */
  send(warning: Warning): void;
  once(warning: Warning): void;
  perProcess(warning: Warning): void;
  episode(warning: Warning): void;
  endEpisode(code: string): void;
}

/** The default destination: one `console.warn` line. */
export function consoleWarning(warning: Warning): void {
  console.warn(`[tierlimit] ${warning.code}: ${warning.message}`);
}

/**
 * Codes already reported in this process, by destination. Kept on `globalThis` under a
 * registered symbol so the ESM and CJS builds of this package, loaded side by side, share
 * it; the default destination is keyed by name for the same reason.
 */
const REGISTRY = Symbol.for('tierlimit.warnings');
type Registry = { byName: Map<string, Set<string>>; bySink: WeakMap<WarningSink, Set<string>> };

function processRegistry(): Registry {
  const holder = globalThis as { [REGISTRY]?: Registry };
  holder[REGISTRY] ??= { byName: new Map(), bySink: new WeakMap() };
  return holder[REGISTRY];
}

function reportedInProcess(sink: WarningSink | undefined): Set<string> {
  const registry = processRegistry();
  const found = sink === undefined ? registry.byName.get('console') : registry.bySink.get(sink);
  if (found !== undefined) return found;
  const codes = new Set<string>();
  if (sink === undefined) registry.byName.set('console', codes);
  else registry.bySink.set(sink, codes);
  return codes;
}

/**
 * A reporter for `sink` (default: {@link consoleWarning}). A sink that throws is ignored:
 * a failing log call must not fail the request, or the connection, that warned.
 */
export function createWarner(sink?: WarningSink): Warner {
  const destination = sink ?? consoleWarning;
  const send = (warning: Warning): void => {
    try {
      destination(warning);
    } catch {
      // Nowhere left to report it.
    }
  };
  const reported = new Set<string>();
  const open = new Set<string>();
  return {
    send,
    once(warning) {
      if (reported.has(warning.code)) return;
      reported.add(warning.code);
      send(warning);
    },
    perProcess(warning) {
      const codes = reportedInProcess(sink);
      if (codes.has(warning.code)) return;
      codes.add(warning.code);
      send(warning);
    },
    episode(warning) {
      if (open.has(warning.code)) return;
      open.add(warning.code);
      send(warning);
    },
    endEpisode(code) {
      open.delete(code);
    },
  };
}
