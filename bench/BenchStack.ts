// Every component of the measured paths, each a separate process running compiled code:
// the agent (the image's esbuild bundle, on a unix listener), the gRPC baseline's agent, the
// HybridVsockMux standing in for the VMM (port 2222 → agent, 2223 → gRPC agent), and the API
// server reading an instance registry in a temp dir. The runner itself is the client.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceRegistry } from '../src/host/registry/InstanceRegistry.js';
import { signDevelopmentToken } from '../src/host/server/TokenSigner.js';
import { NodeProcess } from './NodeProcess.js';
import { bundleAgent } from '../src/host/initrd/AgentBundle.js';
import { AGENT_BUNDLE_NAME } from '../src/host/initrd/ImageLayout.js';
import { compiled, DIST, PROJECT } from './paths.js';

/**
 * The agent as the guest image ships it: src/guest bundled by esbuild into one file (its idle
 * RSS is about 8 MiB below the multi-module dist/ build's). Written under dist/ so that
 * node-pty, kept outside the bundle as in the image, resolves from the checkout.
 */
async function writeAgentBundle(): Promise<string> {
  const bundle = await bundleAgent({ entry: join(PROJECT, 'src', 'guest', 'main.ts'), workingDirectory: PROJECT });
  writeFileSync(AGENT_BUNDLE, bundle.code);
  return AGENT_BUNDLE;
}

/** Where the bench writes the agent's bundle, and the exec helper it runs with. */
export const AGENT_BUNDLE = join(DIST, 'bench', AGENT_BUNDLE_NAME);
export const SPAWN_HELPER = join(PROJECT, 'build', 'guest', 'hypeman-exec-spawn');

export const AGENT_PORT = 2222;
export const GRPC_PORT = 2223;
export const INSTANCE = 'bench-1';
const SECRET = 'bench-secret-bench-secret-bench-secret';

export class BenchStack {
  readonly dir: string;
  readonly agent: NodeProcess;
  readonly grpcAgent: NodeProcess;
  readonly mux: NodeProcess;
  readonly server: NodeProcess;
  /** The hybrid vsock socket the library and the gRPC client dial. */
  readonly vsockSocket: string;
  readonly apiUrl: string;
  readonly token: string;

  private constructor(parts: Omit<BenchStack, 'stop'>) {
    this.dir = parts.dir;
    this.agent = parts.agent;
    this.grpcAgent = parts.grpcAgent;
    this.mux = parts.mux;
    this.server = parts.server;
    this.vsockSocket = parts.vsockSocket;
    this.apiUrl = parts.apiUrl;
    this.token = parts.token;
  }

  /** `serverArgs`: more options for the API server (--record-dir…). */
  static async start(serverArgs: string[] = []): Promise<BenchStack> {
    const dir = mkdtempSync(join(tmpdir(), 'hypeman-bench-'));
    const started: NodeProcess[] = [];
    const start = async (options: Parameters<typeof NodeProcess.start>[0]) => {
      const p = await NodeProcess.start(options);
      started.push(p);
      return p;
    };
    try {
      const registry = new InstanceRegistry(join(dir, 'data'));
      const vsockSocket = join(registry.guestsDir, INSTANCE, 'vsock.sock');
      await registry.put({ id: INSTANCE, name: 'bench', state: 'running', hypervisor: 'cloud-hypervisor', vsock: { socket: 'vsock.sock' }, createdAt: new Date().toISOString() });
      const agentSocket = join(dir, 'agent.sock');
      const grpcSocket = join(dir, 'grpc-agent.sock');
      const agent = await start({
        name: 'agent',
        script: await writeAgentBundle(),
        args: ['--listen', `unix:${agentSocket}`, '--spawn-helper', SPAWN_HELPER],
        dir,
        ready: /"msg":"agent ready"/,
      });
      const grpcAgent = await start({ name: 'grpc-agent', script: compiled('bench/grpc/agent.js'), args: [grpcSocket], dir, ready: /grpc agent ready/ });
      const mux = await start({
        name: 'mux',
        script: compiled('bench/mux-process.js'),
        args: [vsockSocket, `${AGENT_PORT}=${agentSocket}`, `${GRPC_PORT}=${grpcSocket}`],
        dir,
        ready: /mux ready/,
      });
      const server = await start({
        name: 'api-server',
        script: compiled('src/host/server/main.js'),
        args: ['--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data'), '--jwt-secret', SECRET, ...serverArgs],
        dir,
        ready: /"msg":"API server listening"/,
      });
      const port = Number(/"port":(\d+)[^\n]*"msg":"API server listening"/.exec(server.log())?.[1]);
      const token = await signDevelopmentToken(SECRET, { sub: 'bench' });
      // One authenticated request first, as npm start verifies its token: a token's first
      // upgrade waits for jose outside uWS's handler, which no measured session should pay.
      const warm = await fetch(`http://127.0.0.1:${port}/instances`, { headers: { authorization: `Bearer ${token}` } });
      if (!warm.ok) throw new Error(`bench: the API server refused the bench's token (HTTP ${warm.status})`);
      return new BenchStack({ dir, agent, grpcAgent, mux, server, vsockSocket, apiUrl: `ws://127.0.0.1:${port}`, token });
    } catch (err) {
      for (const p of started.reverse()) await p.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.mux.stop();
    await this.grpcAgent.stop();
    await this.agent.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
