// Issue 16: the browser page plays a session's recording back. A TTY session recorded through
// the real API server (--record-dir), then its player page in Debian's Chromium: it plays,
// pauses (the position holds), goes on at another speed, follows the recorded resize, and ends
// on the screen a headless xterm.js draws from the same file; no CSP violation on the way.
// A session without a recording shows the server's refusal.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { RecordingStore } from '../../src/host/server/recording/RecordingStore.js';
import { parseCast, replay } from '../server/asciicast.js';
import { type Stack, startStack } from '../server/stack.js';
import { TtySession } from '../server/ttySession.js';
import { artifactPath, browserSkip, launchChromium } from './chromium.js';

interface PlayerGlobals {
  hypemanPlayer?: {
    state(): string;
    lines(): string[];
    size(): { rows: number; cols: number };
    position(): { at: number; duration: number };
  };
}

const POLL = { timeout: 20_000, polling: 100 };

function player<T>(page: Page, read: (p: NonNullable<PlayerGlobals['hypemanPlayer']>) => T): Promise<T> {
  return page.evaluate(`(${read.toString()})(globalThis.hypemanPlayer)`) as Promise<T>;
}

async function waitForState(page: Page, state: string): Promise<void> {
  await page.waitForFunction((s) => (globalThis as unknown as PlayerGlobals).hypemanPlayer?.state() === s, state, POLL);
}

describe('the browser plays a recording back (issue 16)', { skip: browserSkip }, () => {
  let stack: Stack;
  let dir: string;
  let browser: Browser;
  let session = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hypeman-player-'));
    const recordings = new RecordingStore({ dir: join(dir, 'rec'), recordInput: false, maxBytes: 1 << 20, maxAgeSeconds: 0 }, pino({ level: 'silent' }));
    stack = await startStack({ recordings });
    const s = await TtySession.start(stack);
    session = Buffer.from((await s.started()).sessionId).toString('hex');
    await s.waitFor('$ ');
    await s.type(`printf '\\033[1mbold\\033[0m €\\n'`, '€');
    await s.type('sleep 1.5; echo slept', 'slept');
    await s.resize(90, 20);
    await s.type('seq 1 30', '30');
    await s.exit(0);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plays, pauses, changes speed, and ends on the recorded screen', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      const http = stack.url.replace(/^ws:/, 'http:');
      await page.goto(`${http}/instances/web/sessions/${session}/player#token=${stack.token}`);
      await waitForState(page, 'playing');
      await page.click('#play-pause');
      await waitForState(page, 'paused');
      const held = await player(page, (p) => p.position().at);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await player(page, (p) => p.position().at), held, 'paused: the position holds');
      assert.equal(await page.textContent('#play-pause'), 'Play');
      await page.selectOption('#speed', '4');
      await page.click('#play-pause');
      await waitForState(page, 'ended');

      const cast = parseCast(readFileSync(join(dir, 'rec', `${session}.cast`), 'utf8'));
      const expected = (await replay(cast)).snapshot();
      const lines = await player(page, (p) => p.lines());
      while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
      assert.deepEqual(lines, expected.lines);
      assert.deepEqual(await player(page, (p) => p.size()), { cols: 90, rows: 20 });
      const { at, duration } = await player(page, (p) => p.position());
      assert.equal(at, duration);
      assert.ok(duration >= 1.5, `the sleep is in the timing (${duration} s)`);
      await page.screenshot({ path: artifactPath('recording-player.png') });
      assert.deepEqual(problems, [], 'no errors and no CSP violations');
    } finally {
      await context.close();
    }
  });

  it('shows the server\'s refusal for a session without a recording', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      const http = stack.url.replace(/^ws:/, 'http:');
      await page.goto(`${http}/instances/web/sessions/${'0'.repeat(32)}/player#token=${stack.token}`);
      await waitForState(page, 'failed');
      assert.match((await page.textContent('#message')) ?? '', /^RECORDING_NOT_FOUND: no recording of session/);
    } finally {
      await context.close();
    }
  });
});
