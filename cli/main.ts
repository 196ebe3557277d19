/**
 * The `rewind` command line. Each command's module is loaded when that command runs: loading all of
 * them (Temporal's SDK, the API server, the worker's activities) took a second before any command
 * could start, `rewind sql` and `rewind --help` included.
 */
import { Command, Option } from 'commander';
import { createContext } from './context.ts';

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
    const { formatSummary, progressBar, runImport } = await import('./import.ts');
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
  .description('Run SQL over the warehouse: views plays, daily_rollups, period_snapshots, playlists, playlist_items, tracks, artists.')
  .argument('<query>', 'the SQL query')
  .addOption(new Option('--json', 'print one JSON array of row objects').conflicts('csv'))
  .addOption(new Option('--csv', 'print CSV with a header row').conflicts('json'))
  .action(async (query: string, opts: { json?: boolean; csv?: boolean }) => {
    await (await import('./sql.ts')).runSqlCommand(createContext(), query, opts.json ? 'json' : opts.csv ? 'csv' : 'table');
  });

program
  .command('enrich')
  .description('Look up now what the shared catalog lacks (album art, durations, genres) at REWIND_ENRICH_RATE; the schedule "enrich" does it hourly.')
  .option('--json', 'print one JSON object with the outcome')
  .action(async (opts: { json?: boolean }) => (await import('./enrich.ts')).enrichCommand(createContext(), { json: opts.json }));

program
  .command('status')
  .description('Users, plays per source, last import, and the freshness of the models.')
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => (await import('./status.ts')).statusCommand(createContext(), Boolean(opts.json)));

program
  .command('demo')
  .description('Write a realistic synthetic export (deterministic) and import it.')
  .option('--user <id>', 'the user to import it for', 'demo')
  .option('--streams <n>', 'about how many streams', (v) => Number(v), 60_000)
  .option('--seed <n>', 'random seed', (v) => Number(v), 42)
  .option('--json', 'print the import outcome as JSON')
  .action(async (opts: { user: string; streams: number; seed: number; json?: boolean }) => (await import('./start.ts')).demoCommand(createContext(), opts));

program
  .command('start')
  .description('The main job: Temporal, the demo (imported when the warehouse is empty, synced from the demo Spotify), the models and dashboards, then the API and a worker until Ctrl-C.')
  .action(async () => (await import('./start.ts')).startCommand(createContext()));

program
  .command('build')
  .description('Rebuild the models (every day), then the dashboards site, for one user or all.')
  .option('--user <id>', 'only this user')
  .option('--no-site', 'only the models')
  .action(async (opts: { user?: string; site: boolean }) => (await import('./build.ts')).buildCommand(createContext(), opts.user, { site: opts.site }));

program
  .command('timezone')
  .description("Show or set a user's timezone (an IANA name); setting it rebuilds their models.")
  .requiredOption('--user <id>', 'the user')
  .argument('[timezone]', 'for example Europe/Berlin')
  .action(async (tz: string | undefined, opts: { user: string }) => (await import('./build.ts')).timezoneCommand(createContext(), opts.user, tz));

program
  .command('worker')
  .description('Run a worker in the foreground (workflows and activities) until interrupted.')
  .action(async () => (await import('./worker.ts')).workerCommand(createContext()));

program
  .command('temporal')
  .description('The embedded Temporal dev server: start it (or check TEMPORAL_ADDRESS), or stop it.')
  .argument('<action>', 'start | stop')
  .action(async (action: string) => (await import('./worker.ts')).temporalCommand(createContext(), action));

program
  .command('serve')
  .description('Serve the JSON API (/api/v1, docs at /api/docs) and the dashboards; runs a worker in-process when none polls.')
  .option('--host <host>', 'address to listen on (default REWIND_API_HOST or 127.0.0.1)')
  .option('--port <port>', 'port (default REWIND_API_PORT or 3000)', (v) => Number(v))
  .option('--no-worker', 'never run a worker in this process')
  .action(async (opts: { host?: string; port?: number; worker: boolean }) => (await import('./serve.ts')).serveCommand(createContext(), opts));

const token = program.command('token').description('Personal API tokens (Authorization: Bearer <token>).');
token
  .command('create')
  .description('Create a token for a user and print it (shown only once).')
  .requiredOption('--user <id>', 'the user the token acts as')
  .option('--name <name>', 'a label, e.g. the tool that uses it')
  .option('--json', 'print JSON')
  .action(async (opts: { user: string; name?: string; json?: boolean }) => (await import('./token.ts')).tokenCreateCommand(createContext(), opts.user, opts.name, Boolean(opts.json)));
token
  .command('list')
  .description('List tokens (ids, users, names; never the tokens).')
  .option('--user <id>', 'only this user')
  .option('--json', 'print JSON')
  .action(async (opts: { user?: string; json?: boolean }) => (await import('./token.ts')).tokenListCommand(createContext(), opts.user, Boolean(opts.json)));
token
  .command('revoke')
  .description('Revoke a token by its id (its sessions end too).')
  .argument('<id>', 'the token id (see token list)')
  .action(async (id: string) => (await import('./token.ts')).tokenRevokeCommand(createContext(), id));

program
  .command('login')
  .description('Connect a user to their Spotify account (Authorization Code with PKCE, through a browser) and schedule their sync.')
  .requiredOption('--user <id>', 'the Rewind user')
  .option('--port <port>', 'callback port on 127.0.0.1 (default SPOTIFY_REDIRECT_PORT or 8888)', (v) => Number(v))
  .action(async (opts: { user: string; port?: number }) => (await import('./login.ts')).loginCommand(createContext(), opts));

program
  .command('connect')
  .description('Connect a user with a Spotify refresh token read from a file (headless servers), and schedule their sync.')
  .requiredOption('--user <id>', 'the Rewind user')
  .requiredOption('--refresh-token-file <file>', 'a file holding the refresh token (one line)')
  .action(async (opts: { user: string; refreshTokenFile: string }) => (await import('./login.ts')).connectCommand(createContext(), opts));

program
  .command('sync')
  .description('Sync plays from Spotify now (recently-played), for one user or every connected user, with progress.')
  .option('--user <id>', 'the user')
  .option('--all', 'every connected user')
  .option('--json', 'print JSON')
  .action(async (opts: { user?: string; all?: boolean; json?: boolean }) => (await import('./sync.ts')).syncCommand(createContext(), opts));

program
  .command('realtime')
  .description("A user's realtime mode: poll currently-playing every 15 s to record skips and local files (on, off, or status).")
  .requiredOption('--user <id>', 'the user')
  .argument('[action]', 'on | off | status', 'status')
  .action(async (action: string, opts: { user: string }) => (await import('./realtime.ts')).realtimeCommand(createContext(), { user: opts.user, action }));

program
  .command('playlists')
  .description("Snapshot a user's playlists now (also done daily by the schedule playlists:<user>); unchanged playlists are skipped.")
  .requiredOption('--user <id>', 'the user')
  .option('--json', 'print JSON')
  .action(async (opts: { user: string; json?: boolean }) => (await import('./playlists.ts')).playlistsCommand(createContext(), opts));

try {
  await program.parseAsync(process.argv);
  process.exitCode ??= 0;
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`rewind: error: ${message}\n`);
  process.exitCode = 1;
}
// Native handles (DuckDB, Temporal's core) can keep the loop alive after a command is done.
setImmediate(() => process.exit(process.exitCode ?? 0));
