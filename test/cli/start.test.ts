/**
 * `npm start` (rewind start) from an empty data folder, as a new user runs it: imports the demo,
 * builds the models and the dashboards, serves them behind login, connects `demo` to the demo
 * Spotify whose schedule syncs new plays, and keeps running until Ctrl-C. The second start imports
 * nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../config.ts';
import { freePort, startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';

const exec = promisify(execFile);
const bin = path.join(PROJECT_ROOT, 'bin/rewind.js');
let temporal: TestTemporal;
let root: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-start-test-'));
  env = {
    ...process.env,
    REWIND_HOME: path.join(root, 'home'),
    TEMPORAL_ADDRESS: temporal.address,
    REWIND_API_PORT: String(await freePort()),
    SPOTIFY_CLIENT_ID: '',
  };
});
after(async () => {
  await temporal.stop();
  await fs.rm(root, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Start `rewind start` and wait until it says it is running. */
async function start(): Promise<Started> {
  const child = spawn(process.execPath, [bin, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 280_000;
  while (!/Rewind is running/.test(out)) {
    if (child.exitCode !== null) throw new Error(`rewind start exited with ${child.exitCode}:\n${out}\n${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`rewind start did not come up:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function stop(s: Started): Promise<void> {
  s.child.kill('SIGINT');
  assert.equal(await s.exited, 0, `rewind start exits cleanly on Ctrl-C:\n${s.stderr()}`);
}

async function sql(query: string): Promise<Record<string, unknown>[]> {
  return JSON.parse((await exec(process.execPath, [bin, 'sql', query, '--json'], { env })).stdout) as Record<string, unknown>[];
}

/** Follow a redirect by hand (fetch would not keep cookies across hosts). */
function cookiesOf(res: Response): string {
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

test('rewind start imports the demo, serves the dashboards behind login, syncs the demo Spotify, and stops on Ctrl-C', { timeout: 900_000 }, async () => {
  const first = await start();
  try {
    const out = first.stdout();
    assert.match(out, /Imported \d+ file\(s\) for "demo"/);
    assert.match(out, /demo: [\d,]+ plays/);
    assert.match(out, /top artists of all time: 1\. /);
    assert.match(out, /Temporal UI:/);
    const url = /Dashboards:\s+(http:\/\/\S+?)\/\s/.exec(out)?.[1];
    assert.ok(url, `a dashboards link in:\n${out}`);

    // The site needs a login: anonymous browsers get the login page, not the dashboards.
    const anonymous = await fetch(`${url}/`, { redirect: 'manual' });
    assert.ok([302, 303, 401].includes(anonymous.status), `anonymous / is ${anonymous.status}`);

    // An API token opens the dashboards and the API.
    const token = (await exec(process.execPath, [bin, 'token', 'create', '--user', 'demo'], { env })).stdout.trim();
    const page = await fetch(`${url}/`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const overview = await fetch(`${url}/api/v1/analytics/overview?period=all_time`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(overview.status, 200);

    // "Log in with Spotify" through the demo Spotify ends in a session that opens the dashboards.
    const login = await fetch(`${url}/auth/login`, { redirect: 'manual' });
    assert.ok([302, 303].includes(login.status), `login is ${login.status}`);
    const oauthCookie = cookiesOf(login);
    const approve = await fetch(login.headers.get('location')!, { redirect: 'manual' });
    assert.ok([302, 303].includes(approve.status), `authorize is ${approve.status}`);
    const callback = await fetch(approve.headers.get('location')!, { redirect: 'manual', headers: { cookie: oauthCookie } });
    assert.ok([302, 303].includes(callback.status), `callback is ${callback.status}`);
    const session = cookiesOf(callback);
    assert.ok(session, 'a session cookie');
    const home = await fetch(`${url}/`, { headers: { cookie: session } });
    assert.equal(home.status, 200);

    // The schedule's first sync brings the demo listener's plays in as source 'api'.
    const deadline = Date.now() + 180_000;
    let api = 0;
    while (api === 0 && Date.now() < deadline) {
      api = Number((await sql(`SELECT count(*) AS n FROM plays WHERE user_id = 'demo' AND source = 'api'`))[0]!.n);
      if (api === 0) await new Promise((r) => setTimeout(r, 2000));
    }
    assert.ok(api > 0, 'the demo sync stored plays from the demo Spotify');
  } catch (e) {
    first.child.kill('SIGKILL');
    throw new Error(`${e instanceof Error ? e.stack : String(e)}\n--- rewind start stderr:\n${first.stderr()}`);
  }
  await stop(first);

  const second = await start();
  await stop(second);
  assert.doesNotMatch(second.stdout(), /Imported/);
  assert.match(second.stdout(), /demo: [\d,]+ plays/);

  const status = JSON.parse((await exec(process.execPath, [bin, 'status', '--json'], { env })).stdout) as {
    user: string; plays: Record<string, number>; imports: number; models: unknown;
  }[];
  assert.equal(status.length, 1);
  assert.equal(status[0]!.user, 'demo');
  assert.equal(status[0]!.imports, 1);
  assert.ok(status[0]!.plays.extended_export! > 50_000);
  assert.ok(status[0]!.plays.api! > 0);
  assert.ok(status[0]!.models, 'models built');
});
