// The whole host path for server tests: the real agent (child process) behind a
// HybridVsockMux, an instance registry in a temp dir, and the ApiServer in this process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { ApiServer } from '../../src/host/server/ApiServer.js';
import { HostPolicy } from '../../src/host/server/HostPolicy.js';
import { OriginPolicy } from '../../src/host/server/OriginPolicy.js';
import type { SessionLimits } from '../../src/host/server/SessionLimits.js';
import { RegistryDirectory } from '../../src/host/server/RegistryDirectory.js';
import { TokenVerifier } from '../../src/host/server/TokenVerifier.js';
import { signDevelopmentToken } from '../../src/host/server/TokenSigner.js';
import type { RelayLimits } from '../../src/host/server/relay/ExecRelay.js';
import type { RecordingStore } from '../../src/host/server/recording/RecordingStore.js';
import {
  FrameDecoder,
  WEBSOCKET_SUBPROTOCOL,
  decodeSingleFrame,
  parseFrame,
  type Message,
} from '../../src/wire/index.js';
import { AgentProcess } from '../guest/agentProcess.js';

export const SECRET = 'test-secret-test-secret-test-secret!';

export interface Stack {
  dir: string;
  agent: AgentProcess;
  mux: HybridVsockMux;
  registry: InstanceRegistry;
  server: ApiServer;
  url: string;
  token: string;
  auditLines: string[];
  /** A token for another subject, already verified by the server (see startStack); `observe`: its observe claim. */
  tokenFor(subject: string, claims?: { observe?: string[] }): Promise<string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  limits?: Partial<RelayLimits>;
  sessionLimits?: Partial<SessionLimits>;
  allowedOrigins?: string[];
  publicHosts?: string[];
  /** False: the server starts as "starting" (as npm start's does until local-1 answers). */
  ready?: boolean;
  /** Put before every instance id and name (web-id, web, db…): hosts of a fleet own different ones. */
  instancePrefix?: string;
  /** More arguments for the agent (e.g. --root DIR: the container root its commands and copies see). */
  agentArgs?: string[];
  /** Records TTY sessions there (the server's --record-dir). */
  recordings?: RecordingStore;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'hypeman-server-'));
  const agent = await AgentProcess.start({ args: options.agentArgs });
  const registry = new InstanceRegistry(join(dir, 'data'));
  const p = options.instancePrefix ?? '';
  const muxPath = join(registry.guestsDir, `${p}web-id`, 'vsock.sock');
  await registry.put({ id: `${p}web-id`, name: `${p}web`, state: 'running', hypervisor: 'cloud-hypervisor', vsock: { socket: 'vsock.sock' }, createdAt: new Date().toISOString() });
  await registry.put({ id: `${p}db-id`, name: `${p}db`, state: 'running', hypervisor: 'firecracker', vsock: { socket: 'vsock.sock' }, createdAt: new Date().toISOString() });
  await registry.put({ id: `${p}old-id`, name: `${p}old`, state: 'stopped', hypervisor: 'cloud-hypervisor', vsock: { socket: 'vsock.sock' }, createdAt: new Date().toISOString() });
  // db has a vsock socket path but nothing serves it: its agent is unreachable.
  const mux = new HybridVsockMux({ socketPath: muxPath, ports: { 2222: agent.socketPath } });
  await mux.listen();
  const auditLines: string[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void auditLines.push(line) },
  );
  const verifier = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET });
  const server = new ApiServer({
    host: '127.0.0.1',
    port: 0,
    directory: new RegistryDirectory(registry),
    verifier,
    origins: new OriginPolicy(options.allowedOrigins ?? []),
    hosts: new HostPolicy(options.publicHosts ?? []),
    logger,
    limits: options.limits,
    sessionLimits: options.sessionLimits,
    ready: options.ready,
    recordings: options.recordings,
  });
  const port = await server.start();
  // Verified once here, as npm start does with its dev token: a token's first upgrade must
  // wait for jose and so runs outside uWS's cork, where uWS prints a warning per upgrade.
  const tokenFor = async (sub: string, claims: { observe?: string[] } = {}) => {
    const t = await signDevelopmentToken(SECRET, { sub, ...claims });
    await verifier.verify(t);
    return t;
  };
  const token = await tokenFor('tester');
  return {
    dir,
    agent,
    mux,
    registry,
    server,
    url: `ws://127.0.0.1:${port}`,
    token,
    auditLines,
    tokenFor,
    async stop() {
      await server.stop(0);
      await mux.close();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a framed-dialect client saw: every frame, and how the socket closed. */
export interface FramedResult {
  messages: Message[];
  stdout: Buffer;
  stderr: Buffer;
  closeCode: number;
  closeReason: string;
}

const HANG_GUARD_MS = 60_000;

/** A framed-dialect WebSocket client (spec §8.1) that collects everything. */
export class FramedClient {
  readonly ws: WebSocket;
  readonly messages: Message[] = [];
  readonly done: Promise<FramedResult>;
  #stdout: Buffer[] = [];
  #stderr: Buffer[] = [];

  constructor(url: string, options: { token?: string; protocols?: string[]; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    this.ws = new WebSocket(url, options.protocols ?? [WEBSOCKET_SUBPROTOCOL], { headers });
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) throw new Error(`framed dialect got a text message: ${data}`);
      const frame = decodeSingleFrame(new Uint8Array(data));
      if (!frame) return;
      const m = parseFrame(frame);
      if ('data' in m) {
        m.data = Uint8Array.from(m.data);
        (m.type === 0x11 ? this.#stdout : this.#stderr).push(Buffer.from(m.data));
      }
      this.messages.push(m);
    });
    this.done = new Promise((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('framed client hang guard')), HANG_GUARD_MS);
      this.ws.once('close', (code, reason) => {
        clearTimeout(guard);
        resolve({
          messages: this.messages,
          stdout: Buffer.concat(this.#stdout),
          stderr: Buffer.concat(this.#stderr),
          closeCode: code,
          closeReason: reason.toString(),
        });
      });
      this.ws.once('error', () => undefined);
    });
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
  }

  send(frame: Uint8Array): void {
    this.ws.send(frame, { binary: true });
  }
}

/** Builds `/instances/{id}/exec?…` with repeated parameters. */
export function execUrl(base: string, instance: string, params: Array<[string, string]> = []): string {
  const q = new URLSearchParams(params).toString();
  return `${base}/instances/${encodeURIComponent(instance)}/exec${q ? `?${q}` : ''}`;
}

/** Status and JSON body of a refused upgrade. */
export function upgradeRefusal(url: string, options: { token?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<{ status: number; body: { code: string; message: string } }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const ws = new WebSocket(url, options.protocols ?? [WEBSOCKET_SUBPROTOCOL], { headers });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
    ws.once('error', () => undefined);
  });
}

/** Decodes a byte stream of frames (for assertions). */
export function framesOf(bytes: Uint8Array): Message[] {
  const out: Message[] = [];
  const d = new FrameDecoder((f) => out.push(parseFrame(f)));
  d.push(bytes);
  return out;
}
