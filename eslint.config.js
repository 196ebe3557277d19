// Lint rules that keep the architecture honest. The key one: workflows/ is deterministic
// orchestration only, so it may not import Node built-ins, the warehouse, the API, the CLI or
// activities (activities only as types, through `import type`).
import tseslint from 'typescript-eslint';

const forbiddenInWorkflows = [
  { group: ['node:*'], message: 'Workflows must be deterministic: no Node built-ins.' },
  { group: ['fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'stream', 'zlib', 'url', 'util', 'events', 'worker_threads', 'timers'], message: 'Workflows must be deterministic: no Node built-ins.' },
  { group: ['**/warehouse/*', '**/cli/*', '**/worker/*', '**/api/*', '**/config.ts'], message: 'Workflows orchestrate; they never touch the warehouse, the CLI, the worker or config.', allowTypeImports: true },
  { group: ['**/activities/*', '**/activities/**'], message: 'Import activities as types only: proxyActivities<typeof activities>.', allowTypeImports: true },
  { group: ['@duckdb/*', 'yauzl', '@temporalio/activity', '@temporalio/worker', '@temporalio/client'], message: 'Not in workflow code.' },
];

// The CLI's entry (cli/main.ts) and the context every command gets (cli/context.ts) load the
// heavy parts only when a command needs them (`await import(...)`): statically imported, Temporal's
// SDK, the worker and every command's module cost a second before `rewind sql` or `--help` could run.
const forbiddenInCliEntry = [
  { group: ['@temporalio/*', '**/worker/*', '**/activities/*', '**/api/*'], message: 'Load it where it is used, with await import(): the CLI starts without it.', allowTypeImports: true },
  { group: ['./*', '!./context.ts'], message: "Load a command's module in its action, with await import().", allowTypeImports: true },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tools/**', 'dashboards/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: forbiddenInWorkflows }],
    },
  },
  {
    files: ['cli/main.ts', 'cli/context.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: forbiddenInCliEntry }],
    },
  },
  {
    // process.env is read in one place: config.ts.
    files: ['**/*.ts'],
    ignores: ['config.ts', 'worker/temporal-server.ts', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration in config.ts and pass it down.' }],
    },
  },
);
