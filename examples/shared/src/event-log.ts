import { createHash } from 'node:crypto';

/** What the demo tells a client about the events it received for one API key. */
export interface EventStats {
  /** Distinct events stored (an event is identified by its `id`; events without one always count). */
  readonly received: number;
  /** Events dropped because an event with the same `id` was already stored. */
  readonly duplicates: number;
}

interface KeyLog {
  received: number;
  duplicates: number;
  readonly ids: Set<string>;
}

/**
 * The demos' event sink: counts events per API key and drops repeats by event `id`, so a
 * client that retries a batch after a lost response (or a 503) cannot store an event
 * twice. Keys are hashed before use, like everywhere else. Memory is bounded: each key
 * remembers its most recent `maxIdsPerKey` ids.
 */
export class EventLog {
  readonly #logs = new Map<string, KeyLog>();
  readonly #maxIdsPerKey: number;

  constructor(maxIdsPerKey = 1_000_000) {
    this.#maxIdsPerKey = maxIdsPerKey;
  }

  /** Stores `events` for `apiKey`; returns how many were new and how many were repeats. */
  record(apiKey: string, events: readonly unknown[]): { accepted: number; duplicates: number } {
    const log = this.#log(apiKey);
    let accepted = 0;
    let duplicates = 0;
    for (const event of events) {
      const id = (event as { id?: unknown }).id;
      if (typeof id === 'string' && id.length > 0) {
        if (log.ids.has(id)) {
          duplicates++;
          continue;
        }
        if (log.ids.size >= this.#maxIdsPerKey) log.ids.delete(log.ids.values().next().value as string);
        log.ids.add(id);
      }
      accepted++;
    }
    log.received += accepted;
    log.duplicates += duplicates;
    return { accepted, duplicates };
  }

  stats(apiKey: string): EventStats {
    const log = this.#logs.get(digest(apiKey));
    return { received: log?.received ?? 0, duplicates: log?.duplicates ?? 0 };
  }

  #log(apiKey: string): KeyLog {
    const key = digest(apiKey);
    let log = this.#logs.get(key);
    if (log === undefined) {
      log = { received: 0, duplicates: 0, ids: new Set() };
      this.#logs.set(key, log);
    }
    return log;
  }
}

function digest(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('base64url');
}
