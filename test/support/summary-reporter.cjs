// Prints `tests: N passed, M failed` after every run and records the counts in
// test-results.json so .ci/run can repeat them as its final line (and notice a run that
// executed no test at all).
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const passed = results.numPassedTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    writeFileSync(
      join(this.rootDir, 'test-results.json'),
      `${JSON.stringify({ passed, failed, skipped, suites: results.numTotalTestSuites })}\n`,
    );
    console.log(`tests: ${passed} passed, ${failed} failed${skipped ? ` (${skipped} skipped)` : ''}`);
  }
}

module.exports = SummaryReporter;
