// Issue 7, "Self-contained": the agent from the image runs in a container root that has no
// Node and no libc (busybox alone), chrooted, in new mount and pid namespaces, started by the
// same Sandbox code as a local instance, and serves exec through the hybrid vsock mux to the
// host client: argv, stdin, stderr apart, exit codes, a TTY.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execInInstance, type ExecOptions } from '../../src/host/client/index.js';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { Sandbox } from '../../src/host/local/Sandbox.js';
import { mountsUnder, needsRoot, processesRootedUnder, removeTree, temporaryDirectory } from '../initrd/helpers.js';
import { unpackImage, type UnpackedImage } from './unpackedImage.js';

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

describe('the image agent in a busybox-only root', { skip: needsRoot }, () => {
  const dir = temporaryDirectory('self-contained');
  let image: UnpackedImage;
  let sandbox: Sandbox;
  let mux: HybridVsockMux;

  before(async () => {
    image = await unpackImage(dir);
    sandbox = await Sandbox.start({ root: image.container, payload: image.payload, layout: image.layout, socketDir: image.sockets, hostname: 'self-contained', isolate: true, busybox: join(image.payload, 'bin', 'busybox') });
    mux = new HybridVsockMux({ socketPath: join(dir, 'vsock.sock'), ports: { 2222: sandbox.agentSocket } });
    await mux.listen();
    await sandbox.waitUntilReady(30_000);
  });
  after(async () => {
    await sandbox?.stop();
    await mux?.close();
    // The namespaces are gone with their last process: nothing may be left on the host.
    assert.deepEqual(mountsUnder(dir), []);
    assert.deepEqual(processesRootedUnder(dir), []);
    await removeTree(dir);
  });

  async function run(argv: string[], options: Partial<ExecOptions> = {}, stdin = '') {
    const session = await execInInstance({ socketPath: mux.socketPath }, { argv, ...options });
    const stdout = collect(session.stdout);
    const stderr = collect(session.stderr);
    session.stdin.end(stdin);
    const exit = await session.exit;
    return { exit, stdout: await stdout, stderr: await stderr };
  }

  it('the root has busybox alone: no libc, no loader, no node', () => {
    const names = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? names(join(d, e.name)) : [e.name]));
    const files = names(image.container);
    assert.deepEqual(files.filter((f) => /^(libc\.|ld-|ld\.so|node$)/.test(f)), []);
    assert.equal(existsSync(join(image.container, 'lib')), false);
  });

  it('passes argv word for word', async () => {
    const argv = ['printf', '%s|', 'two words', '', 'ünïcødé', '$HOME', "'quoted'"];
    const { exit, stdout } = await run(argv);
    assert.equal(exit.code, 0);
    assert.equal(stdout, 'two words||ünïcødé|$HOME|\'quoted\'|');
  });

  it('feeds stdin and keeps stderr apart', async () => {
    const { exit, stdout, stderr } = await run(['sh', '-c', 'tr a-z A-Z; echo to-stderr >&2'], {}, 'hello\n');
    assert.equal(exit.code, 0);
    assert.equal(stdout, 'HELLO\n');
    assert.equal(stderr, 'to-stderr\n');
  });

  it('reports exit codes and signals', async () => {
    assert.equal((await run(['sh', '-c', 'exit 42'])).exit.code, 42);
    const killed = await run(['sh', '-c', 'kill -TERM $$']);
    assert.equal(killed.exit.signal, 15);
    const missing = await run(['no-such-program']);
    assert.equal(missing.exit.code, 127);
  });

  it('runs in the sandbox: chrooted, its own pid namespace and host name, the payload read-only', async () => {
    const { stdout } = await run(['sh', '-c', 'hostname; tr "\\0" " " </proc/1/cmdline; echo; ls /; touch /.hypeman/x 2>&1; echo $?']);
    const [hostname, pid1, ...rest] = stdout.trim().split('\n');
    assert.equal(hostname, 'self-contained');
    // PID 1 is the sandbox's shell, named as such in ps, without its script or host paths.
    assert.equal(pid1, 'sh -c eval "$HYPEMAN_SANDBOX" hypeman-sandbox ');
    assert.ok(rest.includes('bin') && !rest.includes('work'), rest.join(' '));
    assert.match(rest.join('\n'), /Read-only file system\n1$/);
  });

  it('gives a TTY of the requested size', async () => {
    const { exit, stdout } = await run(['sh', '-c', 'stty size; tty'], { tty: true, window: { rows: 17, cols: 91 } });
    assert.equal(exit.code, 0);
    assert.match(stdout, /^17 91\r\n\/dev\/pts\/\d+\r\n$/);
  });
});
