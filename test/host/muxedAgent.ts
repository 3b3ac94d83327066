// The real agent (a child process) behind a HybridVsockMux: what a Cloud Hypervisor VM
// looks like from the host, for the client tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { AgentProcess } from '../guest/agentProcess.js';

export interface MuxedAgent {
  agent: AgentProcess;
  mux: HybridVsockMux;
  /** A temp directory the caller may use; removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export async function startMuxedAgent(): Promise<MuxedAgent> {
  const agent = await AgentProcess.start();
  const dir = mkdtempSync(join(tmpdir(), 'hypeman-muxed-'));
  const mux = new HybridVsockMux({ socketPath: join(dir, 'vsock.sock'), ports: { 2222: agent.socketPath } });
  await mux.listen();
  return {
    agent,
    mux,
    dir,
    async stop() {
      await mux.close();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
