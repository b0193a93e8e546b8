/**
 * Registers the store suite with a test runner the caller passes in, so that
 * `@tierlimit/core/testing` imports none: jest, vitest, node:test and mocha all have
 * `describe(name, body)` and `it(name, body)` (and `it.skip`). Each case creates and
 * cleans up its own store, so no `beforeEach` or `afterEach` is needed.
 */
import type { Store } from '../store.js';
import { storeSuite } from './suite.js';
import type { StoreSuiteTarget } from './types.js';

/**
 * A test body as the runners call it. It declares no parameter: jest, mocha and node:test
 * take a function that declares one for a test that ends by calling `done`.
 */
export type TestBody = (this: unknown, ...context: unknown[]) => Promise<void>;

/** Registers one test. */
export type RegisterTest = (name: string, body: TestBody) => unknown;

/** The parts of a test runner the suite registers with: pass `{ describe, it }`. */
export interface TestRunner {
  describe(name: string, body: () => void): unknown;
  /** With `it.skip`, cases the target declares it cannot run are listed as skipped; without it, they are left out. */
  readonly it: RegisterTest & { readonly skip?: RegisterTest };
}

/**
 * Registers every case of the store suite for `target`, as
 * `describe(target.name) > describe(group) > it(case)`:
 *
 * ```ts
 * registerStoreSuite({ describe, it }, { name: 'my store', create: ({ now }) => myStore({ now }) });
 * ```
 *
 * A case that finds a capability missing while it runs is skipped through the runner's
 * test context where it has one (node:test `t.skip()`, vitest `ctx.skip()`, mocha
 * `this.skip()`); jest has none, so there it passes with a warning: declare
 * `capabilities` in the target to see such cases listed as skipped.
 */
export function registerStoreSuite<S extends Store>(runner: TestRunner, target: StoreSuiteTarget<S>): void {
  const { describe, it } = runner;
  const cases = storeSuite(target);
  describe(target.name, () => {
    for (const group of new Set(cases.map((c) => c.group))) {
      describe(group, () => {
        for (const c of cases.filter((each) => each.group === group)) {
          if (c.skip !== undefined) {
            it.skip?.(`${c.name} (skipped: ${c.skip})`, async () => undefined);
            continue;
          }
          it(c.name, async function (this: unknown, ...context: unknown[]) {
            const result = await c.run();
            if (result.status === 'skipped')
              skipRunning(`${target.name} > ${group} > ${c.name}`, result.reason, [context[0], this]);
          });
        }
      });
    }
  });
}

interface Skippable {
  skip(reason?: string): void;
}

/** Marks the running test skipped through whichever test context can (it may throw, as mocha's does). */
function skipRunning(name: string, reason: string, contexts: readonly unknown[]): void {
  for (const context of contexts) {
    if (typeof context === 'object' && context !== null && typeof (context as Partial<Skippable>).skip === 'function') {
      (context as Skippable).skip(reason);
      return;
    }
  }
  console.warn(
    `store suite: "${name}" skipped: ${reason}. This runner cannot skip a running test, so it passes; declare the capability as false in the target to register it as skipped.`,
  );
}
