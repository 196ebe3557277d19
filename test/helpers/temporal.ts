/**
 * A real Temporal dev server for a test file: started on free ports with an in-memory store,
 * stopped when the tests end. The CLI is found or installed exactly as Rewind does it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../../config.ts';
import { findOrInstallCli, freePort, reachable } from '../../worker/temporal-server.ts';

export { freePort };

export interface TestTemporal {
  address: string;
  stop(): Promise<void>;
}


export async function startTestTemporal(): Promise<TestTemporal> {
  const cfg = loadConfig();
  const cli = await findOrInstallCli(cfg.temporal, (m) => process.stderr.write(`${m}\n`));
  const port = await freePort();
  const uiPort = await freePort();
  const child: ChildProcess = spawn(
    cli,
    ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort), '--headless', '--log-level', 'error'],
    { stdio: 'ignore' },
  );
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await reachable(address, 500))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the Temporal dev server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    address,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
