// Measures the image agent's cold start (not a test: figures vary with the machine, nothing
// is asserted). node --import tsx test/local/measure-cold-start.ts [runs]
// The image's agent is started in a busybox-only root by the local runtime's Sandbox
// (unshare + chroot, as init does), and timed from the spawn to its first connection
// accepted through the hybrid vsock mux (CONNECT 2222 answered OK), then to the Exit of a
// first `true`. Also without namespaces (the unprivileged mode), and the image's sizes.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execInInstance } from '../../src/host/client/index.js';
import { HybridVsockDialer } from '../../src/host/dial/HybridVsockDialer.js';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { Sandbox } from '../../src/host/local/Sandbox.js';
import { removeTree, temporaryDirectory } from '../initrd/helpers.js';
import { unpackImage } from './unpackedImage.js';

const runs = Number(process.argv[2] ?? 10);
const dir = temporaryDirectory('cold-start');
const image = await unpackImage(dir);
const MiB = 2 ** 20;
console.log(`image (gzip -1): ${(image.compressedBytes / MiB).toFixed(1)} MiB compressed, ${(image.fileBytes / MiB).toFixed(1)} MiB unpacked`);

async function once(isolate: boolean, run: number): Promise<{ accepted: number; firstExit: number }> {
  const sockets = join(dir, `sockets-${isolate}-${run}`);
  mkdirSync(sockets);
  const started = performance.now();
  const sandbox = await Sandbox.start({ root: image.container, payload: image.payload, layout: image.layout, socketDir: sockets, hostname: 'cold', isolate, busybox: join(image.payload, 'bin', 'busybox') });
  const mux = new HybridVsockMux({ socketPath: join(sockets, 'vsock.sock'), ports: { 2222: sandbox.agentSocket } });
  await mux.listen();
  const dialer = new HybridVsockDialer({ socketPath: mux.socketPath });
  let accepted = 0;
  for (;;) {
    try {
      (await dialer.dial()).destroy();
      accepted = performance.now() - started;
      break;
    } catch {
      if (!sandbox.running) throw new Error('the sandbox exited before accepting a connection');
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  const session = await execInInstance({ socketPath: mux.socketPath }, { argv: ['true'] });
  session.stdin.end();
  session.stdout.resume();
  session.stderr.resume();
  await session.exit;
  const firstExit = performance.now() - started;
  await sandbox.stop();
  await mux.close();
  rmSync(sockets, { recursive: true, force: true });
  return { accepted, firstExit };
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)].toFixed(0)} ms (min ${s[0].toFixed(0)}, max ${s[s.length - 1].toFixed(0)})`;
};

try {
  for (const isolate of [true, false]) {
    const results = [];
    for (let i = 0; i < runs; i++) results.push(await once(isolate, i));
    console.log(`${isolate ? 'sandbox (namespaces + chroot)' : 'no namespaces'}, ${runs} runs:`);
    console.log(`  spawn → first connection accepted through the mux: ${summary(results.map((r) => r.accepted))}`);
    console.log(`  spawn → Exit of a first \`true\`:                   ${summary(results.map((r) => r.firstExit))}`);
  }
} finally {
  await removeTree(dir);
}
