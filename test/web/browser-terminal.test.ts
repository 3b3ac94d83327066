// Issue 15: the browser terminal in a real headless Chromium (Debian's, driven by
// playwright-core) against the real `npm start`: its banner's link, a shell in local-1, the
// fitted size and a resize, typing, Ctrl-C, a fast flood held back to the command, the exit
// status, a lost connection, refusals shown as the server's own errors, and an evil origin;
// watching another session read-only (issue 16).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Server, createServer as createHttpServer } from 'node:http';
import { type Socket, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { execInInstance } from '../../src/host/client/index.js';
import { descendantsOf, waitUntil } from '../guest/agentProcess.js';
import { freePort, StartProcess } from '../local/startProcess.js';
import { artifactPath, browserSkip, launchChromium } from './chromium.js';

const PROJECT = new URL('../..', import.meta.url).pathname;

/** What the page exposes as window.hypemanTerminal (src/host/web/TerminalPage.ts). */
interface PageGlobals {
  hypemanTerminal?: {
    state(): string;
    lines(): string[];
    size(): { rows: number; cols: number };
    stats(): { received: number; drawn: number; pauses: number; maxPending: number; skipped: number; backpressure: boolean; highWater: number; resumes: number } | null;
    sessionId(): string | null;
  };
  sessionStorage: { getItem(key: string): string | null };
  location: { href: string };
  document: { querySelector(selector: string): { textContent: string | null; hidden?: boolean } | null };
}

/** Generous bounds on waits that take milliseconds normally (a shared, noisy machine). */
const WAIT_MS = 20_000;
/**
 * How often a wait looks at the page. Not every frame (playwright's default): scanning the
 * scrollback 60 times a second takes a core from the commands under test on a 2-core machine.
 */
const POLL = { timeout: WAIT_MS, polling: 100 };
/** The largest Stdout frame the server sends (spec §8.1). */
const MAX_SERVER_FRAME = 16_368;

/** Throws with the end of the terminal's buffer: what the page showed when a wait failed. */
async function withScreen<T>(page: Page, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    const screen = await page
      .evaluate(() => {
        const t = (globalThis as unknown as PageGlobals).hypemanTerminal;
        return `state ${t?.state()}; status ${(globalThis as unknown as PageGlobals).document.querySelector('#status')?.textContent}\n${t?.lines().filter(Boolean).slice(-12).join('\n')}`;
      })
      .catch((e: Error) => `(the page cannot say: ${e.message})`);
    throw new Error(`${(err as Error).message}\n--- the page:\n${screen}`);
  }
}

async function waitForState(page: Page, state: string): Promise<void> {
  await withScreen(page, page.waitForFunction((s) => (globalThis as unknown as PageGlobals).hypemanTerminal?.state() === s, state, POLL));
}

/** Waits for a line of the terminal's buffer that matches `pattern`; returns it. */
async function waitForLine(page: Page, pattern: RegExp): Promise<string> {
  const handle = await withScreen(
    page,
    page.waitForFunction(
      (source) => (globalThis as unknown as PageGlobals).hypemanTerminal?.lines().find((l) => new RegExp(source).test(l)),
      pattern.source,
      POLL,
    ),
  );
  return (await handle.jsonValue()) as string;
}

async function typeLine(page: Page, text: string): Promise<void> {
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/**
 * Types a command at the shell's prompt, once the prompt is there and the output has settled:
 * busybox's line editor asks the terminal where the cursor is (ESC[6n) after its prompt, and
 * when xterm.js's answer reaches it among keys typed in the same instant, busybox drops the
 * keys after the answer (seen here: the page sent every key, the server counted them all).
 */
async function shellCommand(page: Page, text: string): Promise<void> {
  await atPrompt(page);
  await typeLine(page, text);
}

/** Waits for the shell's prompt (busybox's `/ # `) on the last line, and for quiet after it. */
async function atPrompt(page: Page): Promise<void> {
  await withScreen(
    page,
    page.waitForFunction(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.lines().filter(Boolean).at(-1)?.trimEnd() === '/ #', null, POLL),
  );
  const received = () => page.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.stats()!.received);
  for (let last = -1, now = await received(); now !== last; last = now, now = await received()) {
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a shell command whose output line is `tag-<value>` (the echoed command line is not). */
async function shellValue(page: Page, tag: string, expression: string): Promise<string> {
  await shellCommand(page, `echo ${tag}-$(${expression} | tr ' ' x)-$((6*7))`);
  const line = await waitForLine(page, new RegExp(`^${tag}-.*-42$`));
  return line.slice(tag.length + 1, -3);
}

function statusText(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('#status')?.textContent ?? '');
}

/** The process named `name` among `ancestor`'s descendants, and the bytes it has written. */
function writtenBy(ancestor: number, name: string): { pid: number; bytes: number } | null {
  for (const pid of descendantsOf(ancestor)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== name) continue;
      const wchar = /wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
      return { pid, bytes: Number(wchar![1]) };
    } catch {
      // exited meanwhile
    }
  }
  return null;
}

/** A TCP relay in front of the API server whose connections the test can cut, and which can refuse new ones. */
class CuttableProxy {
  readonly #server = createTcpServer();
  readonly #sockets = new Set<Socket>();
  port = 0;
  /** While true, a new connection is reset at once (a network that is still away). */
  refusing = false;

  async listen(target: number): Promise<void> {
    this.#server.on('connection', async (client) => {
      if (this.refusing) {
        client.resetAndDestroy();
        return;
      }
      const { connect } = await import('node:net');
      const upstream = connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }

  /** Every connection dies at once, as when a network goes away (no close frame). */
  cut(): void {
    for (const s of this.#sockets) s.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe('browser terminal (headless Chromium against npm start)', { skip: browserSkip }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hypeman-web-'));
  let start: StartProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let link: string;
  const consoleLines: string[] = [];

  before(async () => {
    assert.ok(
      readFileSync(join(PROJECT, 'dist/web/manifest.json'), 'utf8'),
      'the page is built (npm run build)',
    );
    start = await StartProcess.start(dataDir, await freePort());
    origin = `http://127.0.0.1:${start.port}`;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 900, height: 540 } });
    page = await context.newPage();
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    await start?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("opens npm start's link: the token leaves the URL for sessionStorage and a shell runs", async () => {
    const printed = /browser terminal: (\S+)/.exec(start.stdout);
    assert.ok(printed, `npm start prints the link:\n${start.stdout}`);
    link = printed[1];
    assert.equal(link, `${origin}/instances/local-1/terminal#token=${start.token}`);
    await page.goto(link);
    await waitForState(page, 'running');
    assert.equal(page.url(), `${origin}/instances/local-1/terminal`, 'the fragment is gone from the address bar');
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem('hypeman-exec.token')), start.token);
    assert.match(await statusText(page), /^\/bin\/sh running \(pid \d+\)$/);
    await page.click('#terminal');
    assert.equal(await shellValue(page, 'who', 'id -un'), 'root');
  });

  it('gives the command the fitted terminal size, and the new one after a resize', async () => {
    const fitted = await page.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.size());
    assert.equal(await shellValue(page, 'size', 'stty size'), `${fitted.rows}x${fitted.cols}`);
    await page.setViewportSize({ width: 700, height: 400 });
    await page.waitForFunction((before) => {
      const now = (globalThis as unknown as PageGlobals).hypemanTerminal!.size();
      return now.rows !== before.rows && now.cols !== before.cols;
    }, fitted, POLL);
    const resized = await page.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.size());
    assert.ok(resized.rows < fitted.rows && resized.cols < fitted.cols, JSON.stringify({ fitted, resized }));
    assert.equal(await shellValue(page, 'resized', 'stty size'), `${resized.rows}x${resized.cols}`);
    await page.setViewportSize({ width: 900, height: 540 });
  });

  it('echoes what is typed into cat back into the buffer, and Ctrl-C interrupts sleep 100', async () => {
    await shellCommand(page, 'cat');
    // Typed before cat runs, the line would reach the terminal while the shell's line editor
    // still has it raw: its Enter stays a carriage return, which cat's cooked read never ends.
    await waitUntil(() => writtenBy(start.pid, 'cat') !== null, 'cat runs in the instance');
    await typeLine(page, 'typed in a browser, ünïcödé too');
    // The terminal echoes the line, then cat writes it: two lines with the same text.
    await withScreen(
      page,
      page.waitForFunction(
        () => (globalThis as unknown as PageGlobals).hypemanTerminal!.lines().filter((l) => l === 'typed in a browser, ünïcödé too').length === 2,
        null,
        POLL,
      ),
    );
    await page.keyboard.press('Control+D');
    await shellCommand(page, 'sleep 100');
    await waitUntil(() => writtenBy(start.pid, 'sleep') !== null, 'sleep runs in the instance');
    await page.keyboard.press('Control+C');
    // $? of a command ended by SIGINT is 130; well before sleep's 100 s.
    assert.equal(await shellValue(page, 'interrupted', 'echo $?'), '130');

    await shellCommand(page, 'clear');
    for (const command of ['uname -a', 'id', 'ls --color=always /', 'echo "$TERM $(stty size)"', 'busybox | head -1']) {
      await shellCommand(page, command);
    }
    await waitForLine(page, /^BusyBox v/);
    await atPrompt(page);
    const shot = artifactPath('browser-terminal.png');
    await page.screenshot({ path: shot });
    process.stderr.write(`# screenshot of a session: ${shot}\n`);
  });

  it('counts yes | head -c 50000000 | wc -c while the page stays responsive', async () => {
    // Through sh -c: typed at busybox's interactive prompt, yes keeps the shell's unbuffered
    // stdout and writes 2 bytes per write(2), 10 s or more here (busybox sh -i on the host does
    // the same); under sh -c, well under a second.
    await shellCommand(page, 'sh -c "yes | head -c 50000000 | wc -c"');
    const started = Date.now();
    let slowest = 0;
    while (!(await page.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.lines().some((l) => l.trim() === '50000000')))) {
      const asked = performance.now();
      await page.evaluate(() => 1);
      slowest = Math.max(slowest, performance.now() - asked);
      assert.ok(Date.now() - started < 120_000, 'the count arrives (2 s here when the machine is quiet)');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(slowest < 2000, `the page answered within 2 s throughout (slowest ${slowest.toFixed(0)} ms)`);
  });

  it('holds a flood to the terminal back to the command: bounded memory, a responsive page, Ctrl-C at once', async () => {
    const cdp = await context.newCDPSession(page);
    const stats = async () => (await page.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.stats()))!;
    const writer = () => writtenBy(start.pid, 'cat')?.bytes ?? 0;
    await cdp.send('HeapProfiler.collectGarbage');
    const heapBefore = (await cdp.send('Runtime.getHeapUsage')).usedSize;
    const before = await stats();
    // yes alone writes a line per write(2) to a terminal; cat writes what it reads in large
    // chunks, faster than the page draws.
    await shellCommand(page, 'yes | cat');
    const flowing = Date.now();
    while ((await stats()).received - before.received < 512 * 1024) {
      assert.ok(Date.now() - flowing < WAIT_MS, 'the flood reaches the page');
      await new Promise((r) => setTimeout(r, 100));
    }

    // The page's script paused (as a busy tab would be): it reads nothing, so the browser stops
    // reading the socket, the server's send buffer fills, the server stops reading the agent,
    // and cat blocks in write(2). Wait for that: no more than 64 KiB written in a second.
    const receivedAtPause = (await stats()).received;
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.pause');
    let written = writer();
    let still = Date.now();
    const pausedAt = Date.now();
    while (Date.now() - still < 1000) {
      assert.ok(Date.now() - pausedAt < 60_000, `cat keeps writing while the page reads nothing (${written} bytes)`);
      await new Promise((r) => setTimeout(r, 200));
      const now = writer();
      if (now - written > 64 * 1024) {
        written = now;
        still = Date.now();
      }
    }
    // "y\n" reaches the terminal as "y\r\n" (the pty's output processing): 3 bytes for 2.
    const heldInBuffers = (written * 3) / 2 - receivedAtPause;
    const stalledAfterMs = still - pausedAt;
    await cdp.send('Debugger.resume');
    await cdp.send('Debugger.disable');

    // Drawing again: the page catches up at the terminal's pace, stopping its reads while
    // xterm.js is behind, and answers at once all along.
    const answers: number[] = [];
    const heaps: number[] = [];
    const drawing = Date.now();
    while (Date.now() - drawing < 3000) {
      const asked = performance.now();
      await page.evaluate(() => 1);
      answers.push(performance.now() - asked);
      heaps.push((await cdp.send('Runtime.getHeapUsage')).usedSize);
      await new Promise((r) => setTimeout(r, 250));
    }
    await page.keyboard.press('Control+C');
    assert.equal(await shellValue(page, 'flood', 'echo $?'), '130', 'Ctrl-C ended the flood and the shell answers');
    const after = await stats();
    const report = {
      stalledAfterMs,
      heldInBuffersMiB: +(heldInBuffers / 2 ** 20).toFixed(2),
      pageReceivedMiB: +((after.received - before.received) / 2 ** 20).toFixed(1),
      pauses: after.pauses - before.pauses,
      maxPendingKiB: Math.round(after.maxPending / 1024),
      heapGrowthMiB: +((Math.max(...heaps) - heapBefore) / 2 ** 20).toFixed(1),
      slowestAnswerMs: Math.round(Math.max(...answers)),
    };
    process.stderr.write(`# flood: ${JSON.stringify(report)}\n`);
    await cdp.detach();
    assert.equal(after.backpressure, true, 'Chromium has WebSocketStream: not reading holds the server back');
    assert.ok(heldInBuffers < 32 * 2 ** 20, `what cat wrote and the page had not read stays in bounded buffers (${report.heldInBuffersMiB} MiB)`);
    assert.ok(report.pauses > 0, 'the page stopped reading while the terminal was behind');
    assert.ok(after.maxPending <= after.highWater + MAX_SERVER_FRAME, `at most one frame past the high-water mark waits for the terminal (${after.maxPending})`);
    // Garbage not yet collected counts too: 10–35 MiB seen; without flow control it grows by
    // what the command writes (hundreds of MiB in these seconds).
    assert.ok(report.heapGrowthMiB < 96, `the page's memory stays bounded (${report.heapGrowthMiB} MiB more)`);
    assert.ok(report.slowestAnswerMs < 2000, `the page answered within 2 s throughout (${report.slowestAnswerMs} ms)`);
  });

  it('shows the exit status, and Start again opens a new shell', async () => {
    await shellCommand(page, 'exit 3');
    await waitForState(page, 'exited');
    assert.equal(await statusText(page), 'exited with 3');
    assert.ok((await waitForLine(page, /^\[exited with 3\]$/)), 'the terminal says so too');
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('#restart')?.hidden), false);
    await page.click('#restart');
    await waitForState(page, 'running');
    await page.click('#terminal');
    await shellCommand(page, 'kill -KILL $$');
    await waitForState(page, 'exited');
    assert.equal(await statusText(page), 'killed by SIGKILL');
  });

  it("watches another session read-only from the instance list's watch link: the writer's typing shows, the page's keys go nowhere", async () => {
    const writer = await execInInstance({ apiUrl: origin, instance: 'local-1', token: start.token }, { argv: ['sh'], tty: true, lingerSeconds: 30 });
    const { sessionId } = await writer.started;
    let written = '';
    writer.stdout.on('data', (b: Buffer) => (written += b.toString()));
    const watcher = await context.newPage();
    try {
      await watcher.goto(`${origin}/#token=${start.token}`);
      const href = await watcher.getAttribute(`a.watch[href$="?watch=${sessionId}"]`, 'href', { timeout: WAIT_MS });
      assert.equal(href, `/instances/local-1/terminal?watch=${sessionId}`);
      await watcher.click(`a.watch[href$="?watch=${sessionId}"]`);
      await waitForState(watcher, 'watching');
      assert.match(await statusText(watcher), /^watching session [0-9a-f]{12} \(pid \d+\), read-only: your keys go nowhere$/);
      writer.stdin.write('echo watched-$((6*7))\r');
      await waitForLine(watcher, /^watched-42$/);
      await watcher.click('#terminal');
      await typeLine(watcher, 'echo typed-in-the-watching-page');
      writer.stdin.write('echo after-$((1+1))\r');
      await waitForLine(watcher, /^after-2$/);
      await waitUntil(() => written.includes('after-2'), 'the writer sees its own output');
      assert.doesNotMatch(written, /typed-in-the-watching-page/, "the page's keys reached nothing");
      writer.stdin.write('exit 5\r');
      assert.equal((await writer.exit).code, 5);
      await waitForState(watcher, 'exited');
      assert.equal(await statusText(watcher), 'exited with 5');
    } finally {
      writer.abort();
      await watcher.close();
    }
  });

  it('works over a plain WebSocket where the browser has no WebSocketStream (no backpressure)', async () => {
    const plain = await context.newPage();
    try {
      await plain.addInitScript(() => {
        delete (globalThis as { WebSocketStream?: unknown }).WebSocketStream;
      });
      await plain.goto(`${origin}/instances/local-1/terminal#token=${start.token}`);
      await waitForState(plain, 'running');
      assert.equal(await plain.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.stats()!.backpressure), false);
      await plain.click('#terminal');
      assert.equal(await shellValue(plain, 'plain', 'seq 1 20000 | wc -l'), '20000');
      await shellCommand(plain, 'exit 5');
      await waitForState(plain, 'exited');
      assert.equal(await statusText(plain), 'exited with 5');
    } finally {
      await plain.close();
    }
  });

  it('resumes the same shell after a lost connection, with what it wrote and what was typed meanwhile; a closed page hangs it up', async () => {
    const proxy = new CuttableProxy();
    await proxy.listen(start.port);
    const proxied = await context.newPage();
    try {
      await proxied.goto(`http://127.0.0.1:${proxy.port}/instances/local-1/terminal#token=${start.token}`);
      await waitForState(proxied, 'running');
      await shellCommand(proxied, 'X=kept; echo pid-$$-42');
      const pid = (await waitForLine(proxied, /^pid-\d+-42$/)).split('-')[1];
      // Output the shell writes while the page is away, then the network goes.
      await shellCommand(proxied, 'sleep 1; echo written-while-$X-away');
      proxy.refusing = true;
      proxy.cut();
      await waitForState(proxied, 'reconnecting');
      assert.match(await statusText(proxied), /^reconnecting: disconnected: the connection to the server was lost \(WebSocket close 1006\)/);
      assert.equal(await proxied.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('#restart')?.textContent), 'Start again');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      proxy.refusing = false;
      await waitForState(proxied, 'running');
      await waitForLine(proxied, /^written-while-kept-away$/);

      // Keys typed while away are sent once the session is back (typed at a settled prompt:
      // busybox drops keys that arrive with its cursor-position answer, see shellCommand).
      await atPrompt(proxied);
      proxy.refusing = true;
      proxy.cut();
      await waitForState(proxied, 'reconnecting');
      await typeLine(proxied, 'echo typed-while-away-$((6*7))');
      proxy.refusing = false;
      await waitForState(proxied, 'running');
      await waitForLine(proxied, /^typed-while-away-42$/);
      assert.equal(await shellValue(proxied, 'same-shell', 'echo $$'), pid);
      assert.ok((await proxied.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.stats()!.resumes)) >= 1);


      // Closing the tab hangs the shell up (an Error before the close) rather than leaving it
      // to wait for a resume for the page's linger: a session ended on purpose is not kept.
      const sessionId = await proxied.evaluate(() => (globalThis as unknown as PageGlobals).hypemanTerminal!.sessionId());
      const stateOf = async () => {
        const response = await fetch(`${origin}/instances/local-1/sessions`, { headers: { authorization: `Bearer ${start.token}` } });
        const sessions = (await response.json()) as Array<{ id: string; state: string }>;
        return sessions.find((x) => x.id === sessionId)?.state ?? 'gone';
      };
      assert.equal(await stateOf(), 'attached');
      // As a user closing the tab: the page's unload handlers run (pagehide).
      await proxied.close({ runBeforeUnload: true });
      let state = await stateOf();
      for (const deadline = Date.now() + 10_000; state === 'attached' && Date.now() < deadline; state = await stateOf()) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(state === 'gone' || state === 'exited', `the shell of a closed page is hung up, not ${state}`);
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });

  it("shows a wrong token's and an unknown instance's errors as the server words them; a link in an open tab, sign out, sign in", async () => {
    const other = await context.newPage();
    try {
      await other.goto(`${origin}/instances/local-1/terminal#token=not-a-token`);
      await waitForState(other, 'signing-in');
      const reason = await other.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('#sign-in-reason')?.textContent);
      assert.match(reason ?? '', /^UNAUTHORIZED: /);
      assert.equal(await other.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem('hypeman-exec.token')), null, 'the refused token is forgotten');
      // A link opened in the tab already on that page changes only the fragment.
      await other.goto(`${origin}/instances/local-1/terminal#token=${start.token}`);
      await waitForState(other, 'running');
      assert.equal(other.url(), `${origin}/instances/local-1/terminal`);
      // Sign out forgets it; the sign-in form takes a pasted one.
      await other.click('#sign-out');
      await other.waitForSelector('#sign-in', { timeout: WAIT_MS });
      assert.equal(await other.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem('hypeman-exec.token')), null);
      await other.fill('#token', start.token);
      await other.click('#sign-in button');
      await other.waitForSelector('#instances a', { timeout: WAIT_MS });
      assert.equal(await other.getAttribute('#instances a', 'href'), '/instances/local-1/terminal');

      await other.goto(`${origin}/instances/no-such-vm/terminal`);
      await waitForState(other, 'failed');
      const message = await other.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('#message')?.textContent);
      assert.equal(message, 'INSTANCE_NOT_FOUND: no instance with id or name "no-such-vm"; list instances with GET /instances');
    } finally {
      await other.close();
    }
  });

  it('is refused to a page of another origin, even with a good token', async () => {
    const evil: Server = createHttpServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><script>
        const ws = new WebSocket(${JSON.stringify(`ws://127.0.0.1:${start.port}/instances/local-1/exec`)}, ['hypeman-exec.v1', ${JSON.stringify(`bearer.${start.token}`)}]);
        window.outcome = new Promise((resolve) => { ws.onopen = () => resolve('opened'); ws.onclose = (e) => resolve('closed ' + e.code); });
      </script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const evilPage = await context.newPage();
    const evilConsole: string[] = [];
    evilPage.on('console', (m) => evilConsole.push(m.text()));
    try {
      await evilPage.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      assert.equal(await evilPage.evaluate(() => (globalThis as unknown as { outcome: Promise<string> }).outcome), 'closed 1006');
      assert.ok(evilConsole.some((l) => /403/.test(l)), `the browser saw 403 Forbidden: ${evilConsole.join(' | ')}`);
    } finally {
      await evilPage.close();
      await new Promise((resolve) => evil.close(resolve));
    }
  });

  it('ran without a Content-Security-Policy violation or a page error', () => {
    assert.deepEqual(consoleLines.filter((l) => /Content Security Policy|pageerror/i.test(l)), []);
  });
});
