// The stack with the API server as a process of its own (the compiled hypeman-exec-server),
// so that a test can kill it (SIGKILL) and start it again on the same port while the agent,
// the mux and their sessions live on; the agent is a child process, the mux runs here.
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess } from '../../bench/NodeProcess.js';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { signDevelopmentToken } from '../../src/host/server/TokenSigner.js';
import { AgentProcess } from '../guest/agentProcess.js';
import { SECRET } from '../server/stack.js';

const SERVER = new URL('../../dist/src/host/server/main.js', import.meta.url).pathname;

export interface SplitStack {
  /** The CLI's environment for this stack. */
  env: NodeJS.ProcessEnv;
  /** Kills the API server with SIGKILL (it says nothing to anyone). */
  killServer(): void;
  /** Starts the API server again, on the same port. */
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export async function startSplitStack(): Promise<SplitStack> {
  const dir = mkdtempSync(join(tmpdir(), 'hypeman-split-'));
  const agent = await AgentProcess.start();
  const registry = new InstanceRegistry(join(dir, 'data'));
  await registry.put({ id: 'web-id', name: 'web', state: 'running', hypervisor: 'cloud-hypervisor', vsock: { socket: 'vsock.sock' }, createdAt: new Date().toISOString() });
  const mux = new HybridVsockMux({ socketPath: join(registry.guestsDir, 'web-id', 'vsock.sock'), ports: { 2222: agent.socketPath } });
  await mux.listen();
  const port = await freePort();
  let server: NodeProcess | null = null;
  let runs = 0;
  const startServer = async () => {
    server = await NodeProcess.start({
      name: `api-server-${runs++}`,
      script: SERVER,
      args: ['--host', '127.0.0.1', '--port', String(port), '--data-dir', join(dir, 'data'), '--jwt-secret', SECRET],
      dir,
      ready: /"msg":"API server listening"/,
    });
  };
  await startServer();
  const token = await signDevelopmentToken(SECRET, { sub: 'tester' });
  return {
    env: { ...process.env, HYPEMAN_API_URL: `http://127.0.0.1:${port}`, HYPEMAN_TOKEN: token },
    killServer: () => server?.child.kill('SIGKILL'),
    startServer,
    async stop() {
      await server?.stop();
      await mux.close();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
