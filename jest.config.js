// Tests run the TypeScript sources directly (swc strips types; `pnpm typecheck` checks
// them), so no build is needed first. The packed builds are tested separately.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleNameMapper: {
    '^@tierlimit/core/prometheus$': '<rootDir>/packages/core/src/prometheus.ts',
    '^@tierlimit/core/testing$': '<rootDir>/packages/core/src/testing/index.ts',
    '^@tierlimit/client/redis$': '<rootDir>/packages/client/src/redis.ts',
    '^@tierlimit/(core|express|koa|fastify|redis|client|ws)$': '<rootDir>/packages/$1/src/index.ts',
    '^@tierlimit/example-shared$': '<rootDir>/examples/shared/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
  testTimeout: 30_000,
  // Suites close their servers, clients and child processes. Locally a leak shows up as a
  // hang you notice; in CI it must not hang the run forever.
  forceExit: Boolean(process.env.CI),
};
