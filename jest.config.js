// @swc/jest instead of ts-jest: NestJS 12 is ESM-only and ts-jest under CommonJS cannot load it.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];

/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs)/)'],
  moduleNameMapper: {
    '^nestjs-leader-election$': '<rootDir>/libs/leader-election/src',
    '^nestjs-leader-election/health$': '<rootDir>/libs/leader-election/src/health',
    '^nestjs-leader-election/testing$': '<rootDir>/libs/leader-election/src/testing',
  },
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 2,
  // Every test's name in the output: the names say which behaviour each one proves.
  verbose: true,
};
