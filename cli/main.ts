/**
 * The `rewind` command line.
 */
import { Command, Option } from 'commander';
import { createContext } from './context.ts';
import { ImportFailedError, formatSummary, progressBar, runImport } from './import.ts';
import { runSqlCommand } from './sql.ts';
import { statusCommand } from './status.ts';
import { demoCommand, startCommand } from './start.ts';
import { buildCommand, timezoneCommand } from './build.ts';
import { workerCommand, temporalCommand } from './worker.ts';

const program = new Command();
program
  .name('rewind')
  .description('A self-hosted warehouse for your Spotify listening history.')
  .showHelpAfterError();

program
  .command('import')
  .description('Import a Spotify privacy export: the ZIP as downloaded, its unzipped folder, or loose JSON files.')
  .argument('<paths...>', 'the export ZIP, a folder, or JSON files')
  .requiredOption('--user <id>', 'the user the plays belong to')
  .option('--json', 'print one JSON object with the outcome')
  .action(async (paths: string[], opts: { user: string; json?: boolean }) => {
    const ctx = createContext();
    const bar = opts.json ? undefined : progressBar();
    try {
      const summary = await runImport(ctx, { paths, userId: opts.user, onProgress: bar?.update });
      bar?.stop();
      process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
    } finally {
      bar?.stop();
    }
  });

program
  .command('sql')
  .description('Run SQL over the warehouse: views plays, daily_rollups, period_snapshots, imports, users.')
  .argument('<query>', 'the SQL query')
  .addOption(new Option('--json', 'print one JSON array of row objects').conflicts('csv'))
  .addOption(new Option('--csv', 'print CSV with a header row').conflicts('json'))
  .action(async (query: string, opts: { json?: boolean; csv?: boolean }) => {
    await runSqlCommand(createContext(), query, opts.json ? 'json' : opts.csv ? 'csv' : 'table');
  });

program
  .command('status')
  .description('Users, plays per source, last import, and the freshness of the models.')
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => statusCommand(createContext(), Boolean(opts.json)));

program
  .command('demo')
  .description('Write a realistic synthetic export (deterministic) and import it.')
  .option('--user <id>', 'the user to import it for', 'demo')
  .option('--streams <n>', 'about how many streams', (v) => Number(v), 60_000)
  .option('--seed <n>', 'random seed', (v) => Number(v), 42)
  .option('--json', 'print the import outcome as JSON')
  .action(async (opts: { user: string; streams: number; seed: number; json?: boolean }) => demoCommand(createContext(), opts));

program
  .command('start')
  .description('The main job: start Temporal, import the demo when the warehouse is empty, build the models, print a summary.')
  .action(async () => startCommand(createContext()));

program
  .command('build')
  .description('Rebuild the models (every day) for one user or all.')
  .option('--user <id>', 'only this user')
  .action(async (opts: { user?: string }) => buildCommand(createContext(), opts.user));

program
  .command('timezone')
  .description("Show or set a user's timezone (an IANA name); setting it rebuilds their models.")
  .requiredOption('--user <id>', 'the user')
  .argument('[timezone]', 'for example Europe/Berlin')
  .action(async (tz: string | undefined, opts: { user: string }) => timezoneCommand(createContext(), opts.user, tz));

program
  .command('worker')
  .description('Run a worker in the foreground (workflows and activities) until interrupted.')
  .action(async () => workerCommand(createContext()));

program
  .command('temporal')
  .description('The embedded Temporal dev server: start it (or check TEMPORAL_ADDRESS), or stop it.')
  .argument('<action>', 'start | stop')
  .action(async (action: string) => temporalCommand(createContext(), action));

try {
  await program.parseAsync(process.argv);
  process.exitCode ??= 0;
} catch (e) {
  const message = e instanceof ImportFailedError ? e.message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`rewind: error: ${message}\n`);
  process.exitCode = 1;
}
// Native handles (DuckDB, Temporal's core) can keep the loop alive after a command is done.
setImmediate(() => process.exit(process.exitCode ?? 0));
