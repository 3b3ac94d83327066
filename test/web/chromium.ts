// Debian's Chromium driven by playwright-core (never a downloaded browser), started with the
// flags it needs as root on a machine with a closed network.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

const PROJECT = new URL('../..', import.meta.url).pathname;
export const CHROMIUM = process.env.HYPEMAN_CHROMIUM || '/usr/bin/chromium';

/** HYPEMAN_BROWSER_TEST=required (CI): a missing browser fails the tests instead of skipping them. */
export const browserRequired = process.env.HYPEMAN_BROWSER_TEST === 'required';
const missing = existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set HYPEMAN_CHROMIUM)`;
export const browserSkip = missing && !browserRequired ? `browser tests skipped: ${missing}` : false;

/** Where tests leave what a person should look at (screenshots); git ignores /tmp/. */
export function artifactPath(name: string): string {
  const dir = join(PROJECT, 'tmp/test-artifacts');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export async function launchChromium(): Promise<Browser> {
  if (missing) throw new Error(`HYPEMAN_BROWSER_TEST=required, but ${missing}`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    // playwright gives each launch a new empty --user-data-dir and removes it on close.
  });
}
