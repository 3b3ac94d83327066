// The README's examples, run as written against a real API server, mux and agent
// (test/server/stack.ts), and its Configuration section checked against the --help of the
// server and the agent, so that the documentation cannot drift from the code.
//
// A runnable example is the fenced block right after `<!-- test:NAME -->`. Examples read
// HYPEMAN_API_URL, HYPEMAN_TOKEN and HYPEMAN_INSTANCE from the environment; the test sets
// them to the stack's server, token and instance.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INIT_PARAMETERS } from '../../src/host/initrd/InitScript.js';
import { type ProcessRun, runProcess } from '../runProcess.js';
import { type Stack, startStack } from '../server/stack.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
const README = readFileSync(join(PROJECT, 'README.md'), 'utf8');
/** A snippet that never ends is killed after this long, so a hang fails instead of stalling. */
const HANG_GUARD_MS = 30_000;

/** The code of the fenced block that follows `<!-- test:name -->`. */
function example(name: string): string {
  const m = new RegExp(`<!-- test:${name} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  assert.ok(m, `README.md has no fenced block after <!-- test:${name} -->`);
  return m[1];
}

/** The text of a `##`/`###` section, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = README.split('\n').findIndex((line) => /^#{2,3} /.test(line) && line.replace(/^#+ /, '').startsWith(heading));
  assert.ok(start >= 0, `README.md has no section "${heading}"`);
  const lines = README.split('\n');
  const level = lines[start].indexOf(' ');
  const end = lines.findIndex((line, i) => i > start && /^#{1,3} /.test(line) && line.indexOf(' ') <= level);
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

const flagsIn = (text: string) => new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? []);
const envIn = (text: string) => new Set(text.match(/\bHYPEMAN_[A-Z_]+\b/g) ?? []);

function run(args: string[], env: NodeJS.ProcessEnv = {}, cwd = PROJECT): Promise<ProcessRun> {
  return runProcess(process.execPath, args, { cwd, env: { ...process.env, ...env }, hangGuardMs: HANG_GUARD_MS });
}

describe('README examples against a real server, mux and agent', () => {
  let stack: Stack;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    stack = await startStack();
    // Snippets live outside the checkout, as a user's would; `ws` and `hypeman-exec`
    // resolve through a node_modules of links to this checkout.
    dir = mkdtempSync(join(tmpdir(), 'hypeman-readme-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(join(PROJECT, 'node_modules', 'ws'), join(dir, 'node_modules', 'ws'));
    symlinkSync(PROJECT, join(dir, 'node_modules', 'hypeman-exec'));
    env = { HYPEMAN_API_URL: stack.url.replace(/^ws:/, 'http:'), HYPEMAN_TOKEN: stack.token, HYPEMAN_INSTANCE: 'web' };
  });

  after(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function runExample(name: string, code: string, nodeFlags: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<ProcessRun> {
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, code);
    return run([...nodeFlags, file], { ...env, ...extraEnv }, dir);
  }

  it('the framed-dialect example keeps stdout and stderr apart and exits with the command\'s code', async () => {
    const r = await runExample('ws-framed', example('ws-framed'));
    assert.deepEqual(r, { code: 3, stdout: 'HELLO\n', stderr: 'done\n' });
  });

  it('the compatible-dialect example sends a JSON request and stdin, and exits with {"exitCode"}', async () => {
    const r = await runExample('ws-compat', example('ws-compat'));
    assert.deepEqual(r, { code: 7, stdout: 'hello world\n', stderr: '' });
  });

  it('the examples report a refused upgrade (a bad token) instead of hanging', async () => {
    for (const name of ['ws-framed', 'ws-compat']) {
      const r = await runExample(name, example(name), [], { HYPEMAN_TOKEN: 'not-a-token' });
      assert.equal(r.code, 255, name);
      assert.match(r.stderr, /^refused: HTTP 401 \{"code":"UNAUTHORIZED","message":"[^"]+"\}$/m, name);
    }
  });

  // The browser snippet runs under Node's standard WebSocket (the WHATWG API browsers have),
  // with `location` standing for the page served by the API server.
  function browserHarness(token: string): string {
    return `globalThis.location = new URL(process.env.HYPEMAN_API_URL);
${example('browser')}
execInBrowser({
  instance: process.env.HYPEMAN_INSTANCE,
  argv: ['sh', '-c', 'echo out; echo err >&2; exit 5'],
  token: ${JSON.stringify(token)},
  onOutput: (text) => process.stdout.write(text),
  onEnd: (exitCode, failure) => process.stdout.write(\`END \${exitCode} \${JSON.stringify(failure ?? null)}\\n\`),
});
`;
  }

  it('the browser snippet carries the token as a subprotocol and gets output and the exit code', async () => {
    const r = await runExample('browser', browserHarness(stack.token), ['--experimental-websocket', '--no-warnings']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'out\nerr\nEND 5 null\n');
  });

  it('the browser snippet reports a refused upgrade once, as a failed connection', async () => {
    const r = await runExample('browser-refused', browserHarness('not-a-token'), ['--experimental-websocket', '--no-warnings']);
    assert.equal(r.stdout, 'END null {"code":"CONNECTION_FAILED","message":"no session: check the token, the origin and the instance"}\n');
  });

  it('the library example runs through the package export (dist/, built by npm run build)', async () => {
    assert.ok(existsSync(join(PROJECT, 'dist/src/host/index.js')), 'dist/ is missing: run npm run build (npm test does) before this test');
    const r = await runExample('library', example('library'));
    assert.deepEqual(r, { code: 0, stdout: '4\n', stderr: 'bye\n' });
  });

  it('the copy example copies a directory in and back, and stats a file (the stack\'s agent has the root /)', async () => {
    try {
      const r = await runExample('copy-library', example('copy-library'));
      assert.deepEqual(r, { code: 0, stdout: 'file 12 2 12\n', stderr: '' });
      assert.equal(readFileSync(join(dir, 'back/index.html'), 'utf8'), '<h1>hi</h1>\n');
    } finally {
      rmSync('/tmp/site', { recursive: true, force: true });
    }
  });
});

describe('README Configuration matches --help', () => {
  const helpOf = async (entry: string) => {
    const r = await run(['--import', 'tsx', entry, '--help']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('the API server section names exactly the server\'s flags and environment variables', async () => {
    const help = await helpOf('src/host/server/main.ts');
    const documented = section('API server');
    const helpFlags = flagsIn(help);
    for (const flag of flagsIn(documented)) assert.ok(helpFlags.has(flag), `README documents ${flag}, which the server does not have`);
    for (const flag of helpFlags) {
      if (flag !== '--help' && flag !== '--version') assert.ok(flagsIn(documented).has(flag), `the server's ${flag} is not in README's API server section`);
    }
    assert.deepEqual([...envIn(documented)].sort(), [...envIn(help)].sort());
    assert.match(help, /\bPORT\b/);
    assert.match(documented, /`PORT`/);
  });

  it('the guest agent section names exactly the agent\'s flags', async () => {
    const help = await helpOf('src/guest/main.ts');
    const documented = flagsIn(section('Guest agent'));
    const helpFlags = flagsIn(help);
    for (const flag of documented) assert.ok(helpFlags.has(flag), `README documents ${flag}, which the agent does not have`);
    for (const flag of helpFlags) if (flag !== '--help') assert.ok(documented.has(flag), `the agent's ${flag} is not in README's Guest agent section`);
  });

  it('the Tokens section names exactly the token command\'s flags and environment variables', async () => {
    const r = await run(['--import', 'tsx', 'src/host/server/main.ts', 'token', '--help']);
    assert.equal(r.code, 0, r.stderr);
    const documented = section('Tokens');
    const helpFlags = flagsIn(r.stdout);
    for (const flag of flagsIn(documented)) assert.ok(helpFlags.has(flag), `README documents ${flag}, which the token command does not have`);
    for (const flag of helpFlags) if (flag !== '--help') assert.ok(flagsIn(documented).has(flag), `the token command's ${flag} is not in README's Tokens section`);
    assert.deepEqual([...envIn(documented)].sort(), [...envIn(r.stdout)].sort());
  });

  it('the init parameters listed in the hypervisor section are /init\'s, with its defaults', () => {
    const text = section('Running with Cloud Hypervisor');
    const listed = Object.fromEntries([...text.matchAll(/`(HYPEMAN_[A-Z_]+)=([^`]*)`/g)].map((m) => [m[1], m[2]]));
    assert.deepEqual(listed, { ...INIT_PARAMETERS });
  });
});
