/**
 * Headless Chromium for browser tests: /usr/bin/chromium (Debian's package). A fresh machine gets it
 * from apt when we may install packages (root); otherwise the test fails saying what to install.
 * Never `npx playwright install`: playwright-core drives the system browser.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() === 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status === 0 && existsSync(CHROMIUM)) return CHROMIUM;
  }
  throw new Error(`browser tests need Chromium at ${CHROMIUM}: run "sudo apt-get install -y chromium"`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
