import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layer table of docs/ARCHITECTURE.md as rules: each entry names what a folder may not
 * import. `npm run check` (tsc, eslint and dpdm's cycle check, run by .ci/run) fails on a
 * violation.
 */
const restricted = (...groups) => ['error', { patterns: groups.map(({ group, message }) => ({ group, message })) }];

const DRIVERS = {
  group: ['pg', 'pg-*', 'ioredis', 'bentocache', 'bentocache/*'],
  message: 'Only src/db touches PostgreSQL and only src/cache touches Redis (docs/ARCHITECTURE.md).',
};

const TOOLS = {
  group: ['**/tools/**'],
  message: 'The server never imports tooling: src/tools (bench, seed, stack, doctor, explain, cli) runs beside it, not in it (docs/ARCHITECTURE.md).',
};

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'dist/', 'test-artifacts/', 'src/ops/dashboard/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/config/**'],
    rules: {
      // Only the config module may read the environment (DESIGN §1).
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration through src/config.' }],
    },
  },
  {
    // Everything the server runs (src/ minus src/tools): no tooling imports, no drivers outside
    // db/ and cache/. The folders below repeat TOOLS because a later block replaces the rule.
    files: ['src/**/*.ts'],
    ignores: ['src/tools/**', 'src/db/**', 'src/cache/**', 'src/partitions/**'],
    rules: { 'no-restricted-imports': restricted(TOOLS, DRIVERS) },
  },
  {
    // Partition maintenance is DDL on a session the db layer lends it (it names pg's client type).
    files: ['src/db/**/*.ts', 'src/cache/**/*.ts', 'src/partitions/**/*.ts'],
    rules: { 'no-restricted-imports': restricted(TOOLS) },
  },
  {
    files: ['src/services/**/*.ts'],
    rules: {
      'no-restricted-imports': restricted(
        { group: ['fastify', '@fastify/*', 'http', 'node:http', '**/http/**'], message: 'Services know nothing of HTTP: throw AppError, let src/http map it.' },
        DRIVERS,
        TOOLS,
      ),
    },
  },
  {
    files: ['src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': restricted(
        { group: ['**/repositories/**'], message: 'Routes call services, never repositories.' },
        {
          // The db modules HTTP may use: typed errors and the SQLSTATE classifier, the
          // request's query context, and LSN syntax (the read-your-writes header).
          group: ['**/db/*', '!**/db/errors.ts', '!**/db/query-context.ts', '!**/db/lsn.ts'],
          message: 'Routes reach the database through services; from src/db only errors.ts, query-context.ts and lsn.ts are public to HTTP.',
        },
        DRIVERS,
        TOOLS,
      ),
    },
  },
  {
    files: ['src/repositories/**/*.ts'],
    rules: {
      'no-restricted-imports': restricted(
        { group: ['**/services/**', '**/http/**', 'fastify', '@fastify/*'], message: 'Repositories are called by services, never the reverse.' },
        DRIVERS,
        TOOLS,
      ),
    },
  },
);
