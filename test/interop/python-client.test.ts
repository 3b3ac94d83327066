// A client written in another language from spec/PROTOCOL.md alone (hx_client.py, Python
// standard library only) against the real agent behind the hybrid vsock mux: if the spec
// left out anything a client needs, these fail. Durable sessions (§10) included: it resumes
// dropped connections, detaches, lists and attaches from the spec's words.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startMuxedAgent, type MuxedAgent } from '../host/muxedAgent.js';

const CLIENT = join(import.meta.dirname, 'hx_client.py');

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function runPython(socket: string, args: string[], stdin: Buffer | string = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [CLIENT, '--socket', socket, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => {}); // the client may exit before reading all of it
    child.stdin.end(stdin);
  });
}

let vm: MuxedAgent;
let socket: string;
before(async () => {
  vm = await startMuxedAgent();
  socket = join(vm.dir, 'vsock.sock');
});
after(() => vm.stop());

describe('a Python client written from the spec', () => {
  it('runs a command: stdout and stderr apart, the exit code', async () => {
    const r = await runPython(socket, ['--no-stdin', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.match(r.stderr, /^err\nexit kind=0 code=7 signal=0\n$/);
    assert.equal(r.status, 7);
  });

  it('pipes stdin through cat byte-exact, with StdinClose at EOF', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const r = await runPython(socket, ['--', 'cat'], data);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('sends env, cwd and multibyte UTF-8 argv', async () => {
    const r = await runPython(socket, ['--no-stdin', '--env', 'GREETING=grüße', '--cwd', '/tmp', '--', 'sh', '-c', 'printf "%s %s %s" "$GREETING" "$(pwd)" "$0"', 'naïve→']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'grüße /tmp naïve→');
  });

  it('delivers a Signal frame and reads an exit by signal', async () => {
    const r = await runPython(socket, ['--no-stdin', '--signal-after-output', '15', '--', 'sh', '-c', 'echo ready; exec sleep 30']);
    assert.equal(r.status, 143, r.stderr);
    assert.match(r.stderr, /exit kind=1 code=143 signal=15/);
  });

  it('runs under a TTY with the window it asked for', async () => {
    const r = await runPython(socket, ['--no-stdin', '--tty', '--rows', '33', '--cols', '101', '--', 'stty', 'size']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), '33 101\r\n');
  });

  it('reads Error frames: a missing command, an unknown cwd, an unsupported version', async () => {
    const missing = await runPython(socket, ['--no-stdin', '--', 'no-such-command-xyz']);
    assert.equal(missing.status, 127, missing.stderr);
    const cwd = await runPython(socket, ['--no-stdin', '--cwd', '/no/such/dir', '--', 'true']);
    assert.equal(cwd.status, 255);
    assert.match(cwd.stderr, /^error CWD_NOT_FOUND 17: .+/);
    const version = await runPython(socket, ['--no-stdin', '--version', '99', '--', 'true']);
    assert.equal(version.status, 255);
    assert.match(version.stderr, /^error UNSUPPORTED_VERSION 5: .+ supported=2,1\n$/);
  });

  it('resumes a session from the spec alone: 4 MiB through cat, the connection dropped twice, nothing lost', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const r = await runPython(socket, ['--linger', '30', '--cut-after-bytes', '1000000', '--cut-after-bytes', '2500000', '--', 'sh', '-c', 'cat; exit 5'], data);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
    assert.equal(r.stderr.match(/^resumed stdin=\d+ lost=0\/0$/gm)?.length, 2, r.stderr);
  });

  it('detaches, lists and attaches to a session that ended meanwhile', async () => {
    const started = await runPython(socket, ['--linger', '30', '--owner', 'py', '--detach', '--', 'sh', '-c', 'sleep 0.3; echo done; exit 4']);
    assert.equal(started.status, 0, started.stderr);
    const id = started.stdout.toString().trim();
    assert.match(id, /^[0-9a-f]{32}$/);
    await new Promise((resolve) => setTimeout(resolve, 800));
    const listed = await runPython(socket, ['--list', '--owner', 'py']);
    const sessions = JSON.parse(listed.stdout.toString()) as Array<{ id: string; state: string; exitCode?: number }>;
    assert.deepEqual(sessions.filter((x) => x.id === id).map((x) => [x.state, x.exitCode]), [['exited', 4]]);
    const other = await runPython(socket, ['--attach', id, '--owner', 'someone-else']);
    assert.match(other.stderr, /^error SESSION_FORBIDDEN 21: /);
    const attached = await runPython(socket, ['--attach', id, '--owner', 'py'], '');
    assert.equal(attached.stdout.toString(), 'done\n');
    assert.equal(attached.status, 4, attached.stderr);
    const gone = await runPython(socket, ['--attach', 'ff'.repeat(16)]);
    assert.match(gone.stderr, /^error SESSION_NOT_FOUND 20: /);
  });

  it('is refused at the handshake on a port nobody listens on', async () => {
    const r = await runPython(socket, ['--port', '1234', '--no-stdin', '--', 'true']);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /not listening/);
  });
});
