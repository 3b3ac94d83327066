// Starts test/cli/stackMain.ts (the API server, mux and agent) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const PROJECT = new URL('../..', import.meta.url).pathname;

export interface StackProcess {
  url: string;
  token: string;
  /** The agent's process (to freeze it with SIGSTOP, as a hung VM). */
  agentPid: number;
  /** What the stack wrote on stderr. */
  log(): string;
  /** Sessions the API server holds now (its /healthz). */
  sessions(): Promise<number>;
  stop(): Promise<void>;
}

/** `nodeOptions` go to the stack's node before its script (e.g. profiler flags). */
export async function startStackProcess(nodeOptions: string[] = []): Promise<StackProcess> {
  const child: ChildProcess = spawn(process.execPath, [...nodeOptions, '--import', 'tsx', join(PROJECT, 'test/cli/stackMain.ts')], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    void exited.then(() => reject(new Error(`the test stack exited before it was ready:\n${stderr}`)));
  });
  const { url, token, agentPid } = JSON.parse(line) as { url: string; token: string; agentPid: number };
  return {
    url,
    token,
    agentPid,
    log: () => stderr,
    async sessions() {
      const res = await fetch(`${url.replace(/^ws:/, 'http:')}/healthz`);
      return ((await res.json()) as { sessions: number }).sessions;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
