// The compiled hypeman-exec process against the real API server, mux and agent: pipes,
// exit statuses, stderr apart, environment and workdir, timeout, signals, failures.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { waitUntil } from '../guest/agentProcess.js';
import { signDevelopmentToken } from '../../src/host/server/TokenSigner.js';
import { SECRET } from '../server/stack.js';
import { CliProcess, processMarker, runCli, stackEnv, useStackProcess, waitUntilSessionGone } from './cliProcess.js';

const target = useStackProcess();

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('hypeman-exec: pipes and exit statuses', () => {
  it('pipes stdin through the command and closes it at EOF (echo hi | hypeman-exec web cat)', async () => {
    const r = await runCli(['web', 'cat'], target.env, 'hi\n');
    assert.equal(r.stdout.toString(), 'hi\n');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
  });

  it('brings 4 MiB through cat back byte-identical', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const r = await runCli(['web', 'cat'], target.env, data);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, data.length);
    assert.equal(sha256(r.stdout), sha256(data));
  });

  it('keeps stderr apart from stdout, and passes the exit status through', async () => {
    const r = await runCli(['web', 'sh', '-c', 'echo out; echo err >&2; exit 7'], target.env);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.status, 7);
  });

  it('exits 127 for a command that does not exist', async () => {
    const r = await runCli(['web', 'no-such-command-here'], target.env);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /no-such-command-here/);
  });

  it('exits 128+N when the command dies of signal N', async () => {
    const r = await runCli(['web', 'sh', '-c', 'kill -TERM $$'], target.env);
    assert.equal(r.status, 143);
  });

  it('exits 124 when --timeout kills the command', async () => {
    const r = await runCli(['--timeout', '1', 'web', 'sleep', '30'], target.env);
    assert.equal(r.status, 124);
  });

  it('keeps the command\'s own arguments as typed, options and leading zeros included', async () => {
    const r = await runCli(['web', '--', 'printf', '%s|', '007', '-n', '--x'], target.env);
    assert.equal(r.stdout.toString(), '007|-n|--x|');
    assert.equal(r.status, 0);
  });

  it('sets -e NAME=value, copies a bare -e NAME from the local environment, and runs in -w', async () => {
    const r = await runCli(
      ['-e', 'GREETING=hello world', '-e', 'LOCAL_ONLY', '-e', 'UNSET_HERE', '-w', '/tmp', 'web', 'sh', '-c', 'echo "$GREETING|$LOCAL_ONLY|${UNSET_HERE-unset}"; pwd'],
      stackEnv(target.stack, { LOCAL_ONLY: 'from-here' }),
    );
    assert.equal(r.stdout.toString(), 'hello world|from-here|unset\n/tmp\n');
    assert.equal(r.status, 0, r.stderr);
  });

  it('closes the command\'s stdin at once with --no-stdin, even while local stdin stays open', async () => {
    const p = new CliProcess(['--no-stdin', 'web', 'sh', '-c', 'cat; echo eof'], target.env);
    const r = await p.done;
    p.child.stdin.destroy();
    assert.equal(r.stdout.toString(), 'eof\n', `status ${r.status}, stderr ${r.stderr}`);
    assert.equal(r.status, 0);
  });

  it('exits 141 without a crash when the local stdout is closed (hypeman-exec web yes | head -1)', async () => {
    const p = new CliProcess(['web', 'yes'], target.env);
    p.child.stdin.end();
    await new Promise((resolve) => p.child.stdout.once('data', resolve));
    p.child.stdout.destroy();
    const r = await p.done;
    assert.equal(r.status, 141);
    assert.equal(r.stderr, '');
  });
});

describe('hypeman-exec: signals', () => {
  it('forwards Ctrl-C (SIGINT) to the command', async () => {
    const p = new CliProcess(['web', 'sh', '-c', 'trap "echo got-int; exit 3" INT; echo ready; while :; do sleep 0.05; done'], target.env);
    await waitUntil(() => p.stdoutText.includes('ready'), 'the command to start');
    p.child.kill('SIGINT');
    const r = await p.done;
    assert.equal(r.stdout.toString(), 'ready\ngot-int\n');
    assert.equal(r.status, 3);
  });

  it('forwards SIGTERM to the command', async () => {
    const p = new CliProcess(['web', 'sh', '-c', 'trap "echo got-term; exit 5" TERM; echo ready; while :; do sleep 0.05; done'], target.env);
    await waitUntil(() => p.stdoutText.includes('ready'), 'the command to start');
    p.child.kill('SIGTERM');
    const r = await p.done;
    assert.equal(r.stdout.toString(), 'ready\ngot-term\n');
    assert.equal(r.status, 5);
  });

  /** Sends `signal` to the CLI once the command has printed ready; how long the CLI took to exit after it. */
  async function signalWhenReady(p: CliProcess, signal: NodeJS.Signals): Promise<number> {
    await waitUntil(() => p.stdoutText.includes('ready'), 'the command to start');
    const sent = performance.now();
    p.child.kill(signal);
    await p.done;
    return performance.now() - sent;
  }

  it('SIGTERM that the command ignores: forwarded, then the session is hung up; 143 within 2 s, nothing left behind', async () => {
    const mark = processMarker();
    const p = new CliProcess(['-e', mark, 'web', 'sh', '-c', 'trap "" TERM; echo ready; sleep 100'], target.env);
    const ms = await signalWhenReady(p, 'SIGTERM');
    const r = await p.done;
    assert.equal(r.status, 143, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(ms < 2000, `the CLI took ${Math.round(ms)} ms to exit`);
    await waitUntilSessionGone(target.stack, mark);
  });

  it('SIGTERM reaches the command before the hang-up (a trap that carries on)', async () => {
    const p = new CliProcess(['web', 'sh', '-c', 'trap "echo got-term" TERM; echo ready; while :; do sleep 0.05; done'], target.env);
    const ms = await signalWhenReady(p, 'SIGTERM');
    const r = await p.done;
    assert.equal(r.stdout.toString(), 'ready\ngot-term\n');
    assert.equal(r.status, 143);
    assert.ok(ms < 2000, `the CLI took ${Math.round(ms)} ms to exit`);
  });

  it('SIGHUP hangs the session up at once: 129, nothing left behind', async () => {
    const mark = processMarker();
    const p = new CliProcess(['-e', mark, 'web', 'sh', '-c', 'trap "" TERM INT; echo ready; sleep 100'], target.env);
    const ms = await signalWhenReady(p, 'SIGHUP');
    const r = await p.done;
    assert.equal(r.status, 129, r.stderr);
    assert.ok(ms < 2000, `the CLI took ${Math.round(ms)} ms to exit`);
    await waitUntilSessionGone(target.stack, mark);
  });

  it('a second Ctrl-C, however late, ends a command that ignores it: 130 within 2 s, nothing left behind', async () => {
    const mark = processMarker();
    const p = new CliProcess(['-e', mark, 'web', 'sh', '-c', 'trap "echo int" INT; echo ready; while :; do sleep 0.05; done'], target.env);
    await waitUntil(() => p.stdoutText.includes('ready'), 'the command to start');
    p.child.kill('SIGINT');
    await waitUntil(() => p.stdoutText.includes('int\n'), 'the command to get the first Ctrl-C');
    // Well past the one-second window the CLI once had for a second Ctrl-C.
    await new Promise((r) => setTimeout(r, 1500));
    const ms = await signalWhenReady(p, 'SIGINT');
    const r = await p.done;
    assert.equal(r.status, 130);
    assert.match(r.stdout.toString(), /^ready\nint\nint\n$/);
    assert.ok(ms < 2000, `the CLI took ${Math.round(ms)} ms to exit`);
    await waitUntilSessionGone(target.stack, mark);
  });

  it('gives up with 130 on a second Ctrl-C soon after the first', async () => {
    // The command notes each SIGINT and never exits by itself: only giving up ends the CLI.
    const p = new CliProcess(['web', 'sh', '-c', 'trap "echo int" INT; echo ready; while :; do sleep 0.05; done'], target.env);
    await waitUntil(() => p.stdoutText.includes('ready'), 'the command to start');
    let sent = 0;
    const exited = p.done.then(() => true);
    while (!(await Promise.race([exited, new Promise((r) => setTimeout(() => r(false), 50))]))) {
      // A first Ctrl-C, then another once the command has shown it got it.
      if (sent === 0 || p.stdoutText.split('int\n').length - 1 >= sent) {
        p.child.kill('SIGINT');
        sent++;
      }
    }
    const r = await p.done;
    assert.equal(r.status, 130);
    assert.match(r.stdout.toString(), /^ready\n(int\n)+$/);
  });
});

/** The CLI's failure: one line, its own. */
function oneLine(stderr: string): void {
  assert.equal(stderr.split('\n').length, 2, `one line expected: ${JSON.stringify(stderr)}`);
  assert.ok(stderr.startsWith('hypeman-exec: '));
}

describe('hypeman-exec: failures exit 255 with one line naming the cause', () => {

  it('token rejected: the server\'s reason, where a valid token comes from, how to give it', async () => {
    const r = await runCli(['--token', 'not-a-token', 'web', 'true'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.match(r.stderr, /rejected the token: the token is not a well-formed JWT; a valid one comes from hypeman-exec-server token --sub NAME on the server's host, or \.hypeman\/dev-token .*; set HYPEMAN_TOKEN or --token\n$/);
  });

  it('no token at all: how to give one and where it comes from, no browser advice', async () => {
    const r = await runCli(['web', 'true'], { ...target.env, HYPEMAN_TOKEN: '' });
    assert.equal(r.status, 255);
    assert.equal(
      r.stderr,
      "hypeman-exec: no token: set HYPEMAN_TOKEN or --token; a token comes from hypeman-exec-server token --sub NAME on the server's host, or .hypeman/dev-token in the checkout with npm start\n",
    );
  });

  it('no such instance: said once, with the command that lists them', async () => {
    const r = await runCli(['nope', 'true'], target.env);
    assert.equal(r.status, 255);
    assert.equal(r.stderr, `hypeman-exec: no instance nope on ${target.env.HYPEMAN_API_URL}; hypeman-exec ls lists the instances your token may use\n`);
  });

  it('a name mistyped: did you mean the instance whose name is near', async () => {
    const r = await runCli(['wbe', 'true'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.match(r.stderr, /^hypeman-exec: no instance wbe on \S+; did you mean web\? \(hypeman-exec ls lists the instances your token may use\)\n$/);
  });

  it('a token limited to some instances: near names only among those it grants', async () => {
    const token = await signDevelopmentToken(SECRET, { sub: 'limited', instances: ['web'] });
    const typo = await runCli(['wbe', 'true'], { ...target.env, HYPEMAN_TOKEN: token });
    assert.equal(typo.status, 255);
    oneLine(typo.stderr);
    assert.match(typo.stderr, /^hypeman-exec: your token does not grant instance wbe; did you mean web\? \(hypeman-exec ls lists .*"instances" claim\)\n$/);
    // db exists but is not granted: dbx, one letter from it, gets no suggestion.
    const other = await runCli(['dbx', 'true'], { ...target.env, HYPEMAN_TOKEN: token });
    assert.equal(other.status, 255);
    assert.match(other.stderr, /^hypeman-exec: your token does not grant instance dbx; hypeman-exec ls /);
  });

  it('instance not running (409): its state, and how to start it', async () => {
    const r = await runCli(['old', 'true'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.match(r.stderr, /^hypeman-exec: instance old is stopped, not running: start its VM \(cloud-hypervisor\), then run this again; --wait-for-agent SECONDS waits for the agent while it boots\n$/);
  });

  it('API unreachable', async () => {
    // A port that was just free: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const r = await runCli(['--api-url', url, 'web', 'true'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.ok(r.stderr.includes(`cannot reach the API at ${url} (connect ECONNREFUSED`), r.stderr);
  });

  it('agent not answering', async () => {
    const r = await runCli(['db', 'true'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.match(r.stderr, /the agent of instance db is not answering: .*--wait-for-agent/);
  });

  it('an agent that stops answering mid-session (a frozen VM), found by --keepalive, and given up once the linger passed', async () => {
    const p = new CliProcess(['--keepalive', '0.3', '--linger', '2', 'web', 'sh', '-c', 'echo ready; exec sleep 30'], target.env);
    await waitUntil(() => p.stdoutText.includes('ready'), 'the command to start');
    process.kill(target.stack.agentPid, 'SIGSTOP');
    try {
      const r = await p.done;
      assert.equal(r.status, 255);
      // After a second the CLI says it is reconnecting; its last line says why it gave up.
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0], lines.length === 2 ? /reconnecting, the command runs on for up to 2 s/ : /not answering/);
      assert.ok(lines.length <= 2, r.stderr);
      assert.match(lines.at(-1)!, /^hypeman-exec: the agent of instance web is not answering: .*could not be resumed within its linger of 2 s/);
    } finally {
      process.kill(target.stack.agentPid, 'SIGCONT');
    }
  });

  it('a bad option, with a hint at --help', async () => {
    const r = await runCli(['--bogus', 'web', 'true'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.match(r.stderr, /Unknown argument: bogus \(see hypeman-exec --help\)/);
  });

  for (const [args, text] of [
    [['--timeout', 'abc'], '--timeout takes a number of seconds (0 or more), got "abc"'],
    [['--timeout', ''], '--timeout takes a number of seconds (0 or more), got ""'],
    [['--wait-for-agent', '-1'], '--wait-for-agent takes a number of seconds (0 or more), got "-1"'],
    [['--keepalive', '1x'], '--keepalive takes a number of seconds (0 or more), got "1x"'],
  ] as Array<[string[], string]>) {
    it(`refuses ${args.map((a) => JSON.stringify(a)).join(' ')}, saying what was typed`, async () => {
      const r = await runCli([...args, 'web', 'true'], target.env);
      assert.equal(r.status, 255);
      assert.equal(r.stderr, `hypeman-exec: ${text} (see hypeman-exec --help)\n`);
    });
  }

  it('an option without its value names it as typed', async () => {
    const r = await runCli(['web', '-u'], target.env);
    assert.equal(r.status, 255);
    assert.equal(r.stderr, 'hypeman-exec: -u needs a value (see hypeman-exec --help)\n');
  });
});

describe('hypeman-exec: options after the instance', () => {
  it('takes them up to the command, as kubectl does (hypeman-exec web -e A=1 -w /tmp sh …)', async () => {
    const r = await runCli(['web', '-e', 'A=1', '-w', '/tmp', '--timeout', '5', 'sh', '-c', 'echo "$A"; pwd; echo "$@"', 'sh', '-u', '--x'], target.env);
    assert.equal(r.stdout.toString(), '1\n/tmp\n-u --x\n', r.stderr);
    assert.equal(r.status, 0);
  });

  it('merges them with those before the instance', async () => {
    const r = await runCli(['-e', 'A=1', 'web', '-e', 'B=2', '--', 'sh', '-c', 'echo "$A$B"'], target.env);
    assert.equal(r.stdout.toString(), '12\n', r.stderr);
    assert.equal(r.status, 0);
  });

  it('refuses a word after the instance that looks like an option but is not one of ours, saying how to run it', async () => {
    const r = await runCli(['web', '-l'], target.env);
    assert.equal(r.status, 255);
    oneLine(r.stderr);
    assert.match(r.stderr, /-l after the instance is not an option of hypeman-exec .*a command whose name starts with - goes after --: hypeman-exec web -- -l/);
  });

  it('after --, a command whose name starts with - is run as typed', async () => {
    const r = await runCli(['web', '--', '-u'], target.env);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /-u/);
  });
});

describe('hypeman-exec ls', () => {
  it('lists the instances the token may use, with their state, like docker ps', async () => {
    const r = await runCli(['ls'], target.env);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.toString().trimEnd().split('\n').map((line) => line.split(/\s+/));
    assert.deepEqual(lines, [
      ['ID', 'NAME', 'STATE', 'HYPERVISOR'],
      ['db-id', 'db', 'running', 'firecracker'],
      ['old-id', 'old', 'stopped', 'cloud-hypervisor'],
      ['web-id', 'web', 'running', 'cloud-hypervisor'],
    ]);
  });

  it('--json prints what GET /instances answers', async () => {
    const r = await runCli(['ls', '--json'], target.env);
    assert.equal(r.status, 0, r.stderr);
    const api = await fetch(`${target.env.HYPEMAN_API_URL}/instances`, { headers: { authorization: `Bearer ${target.env.HYPEMAN_TOKEN}` } });
    assert.deepEqual(JSON.parse(r.stdout.toString()), await api.json());
  });

  it('shows a limited token only what it grants', async () => {
    const token = await signDevelopmentToken(SECRET, { sub: 'limited', instances: ['web'] });
    const r = await runCli(['ls', '--json'], { ...target.env, HYPEMAN_TOKEN: token });
    assert.deepEqual((JSON.parse(r.stdout.toString()) as Array<{ name: string }>).map((i) => i.name), ['web']);
  });

  it('fails as exec does without a token, and refuses the options of exec', async () => {
    const noToken = await runCli(['ls'], { ...target.env, HYPEMAN_TOKEN: '' });
    assert.equal(noToken.status, 255);
    assert.match(noToken.stderr, /^hypeman-exec: no token: set HYPEMAN_TOKEN or --token; /);
    const execOption = await runCli(['ls', '-u', 'app'], target.env);
    assert.equal(execOption.status, 255);
    assert.match(execOption.stderr, /ls takes only --json, --api-url and --token; --user is for running a command/);
  });

  it('an instance named ls is reached after --', async () => {
    const r = await runCli(['--', 'ls', 'true'], target.env);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /^hypeman-exec: no instance ls on /);
  });
});

describe('hypeman-exec: --help and --version', () => {
  it('--version prints the package version', async () => {
    // Read, not imported: an import would make tsc copy package.json into dist/.
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version'], target.env);
    assert.equal(r.stdout.toString(), `${version}\n`);
    assert.equal(r.status, 0);
  });

  it('--help shows usage, examples and exit statuses, and never the token', async () => {
    const r = await runCli(['--help'], target.env);
    const text = r.stdout.toString();
    assert.equal(r.status, 0);
    assert.match(text, /Usage: hypeman-exec \[options\] <instance> \[--\] \[command\.\.\.\]/);
    assert.match(text, /Examples:/);
    assert.match(text, /Exit status:/);
    assert.ok(!text.includes(target.stack.token), 'the token from HYPEMAN_TOKEN must not be printed');
  });

  it('the README\'s CLI section names exactly the flags --help names', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('\n## CLI\n'), readme.indexOf('\n## ', readme.indexOf('\n## CLI\n') + 1));
    const help = (await runCli(['--help'], target.env)).stdout.toString();
    const flags = (text: string) => new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? []);
    assert.deepEqual([...flags(section)].sort(), [...flags(help)].sort());
  });
});
