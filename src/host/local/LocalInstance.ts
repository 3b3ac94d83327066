/**
 * A `local` instance: the image's agent in a Sandbox, behind a HybridVsockMux at
 * `<data-dir>/guests/<id>/vsock.sock`, recorded in the InstanceRegistry like a VM. The API
 * server reaches it through exactly the code path of a Cloud Hypervisor VM (registry →
 * hybrid vsock dialer → CONNECT 2222). The record names the sandbox's pid, so a dead agent
 * makes the instance `stopped` (and exec answers 409) without anyone updating the record.
 */
import { existsSync, openSync, closeSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HybridVsockMux } from './HybridVsockMux.js';
import { DEFAULT_AGENT_PORT } from '../initrd/InitScript.js';
import type { InstanceRegistry } from '../registry/InstanceRegistry.js';
import { ensureBusyboxRoot } from './BusyboxRoot.js';
import { ensureHostRoot } from './HostRoot.js';
import { InstanceInUseError, RootNotUsableError } from './errors.js';
import type { LocalImage } from './LocalImage.js';
import { Sandbox, type SandboxExit } from './Sandbox.js';

export const VSOCK_SOCKET_NAME = 'vsock.sock';
export const CONSOLE_LOG_NAME = 'console.log';

export interface LocalInstanceOptions {
  readonly registry: InstanceRegistry;
  readonly id: string;
  /** Default: the id. */
  readonly name?: string;
  readonly image: LocalImage;
  /**
   * The container root; default `<data-dir>/roots/<id>`, a busybox root made on first use,
   * or, when the image has no busybox, `<data-dir>/roots/<id>-host` over the host's userland.
   */
  readonly root?: string;
  /** Namespaces and chroot; default: when running as root. */
  readonly isolate?: boolean;
  /** More agent arguments (--max-sessions, --env …). */
  readonly agentArgs?: readonly string[];
  /** How long the agent may take to accept its first connection; default 30 s. */
  readonly readyTimeoutMs?: number;
}

/**
 * How long a start waits for a previous holder of the instance to let go: an `npm start`
 * stopped a moment ago (SIGTERM to its process group ends npm first) is still taking its
 * sandbox down.
 */
const PREVIOUS_HOLDER_WAIT_MS = 10_000;

async function waitForPreviousHolder(registry: InstanceRegistry, id: string) {
  const deadline = Date.now() + PREVIOUS_HOLDER_WAIT_MS;
  for (;;) {
    const record = await registry.find(id);
    if (record?.state !== 'running' || record.pid === undefined || Date.now() >= deadline) return record;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export class LocalInstance {
  readonly id: string;
  readonly root: string;
  readonly rootKind: RootKind;
  readonly sandbox: Sandbox;
  readonly mux: HybridVsockMux;
  /** The agent's output (its JSON log lines), like a VM's serial console. */
  readonly consoleLog: string;
  /** Milliseconds from starting the sandbox to the agent's first accepted connection. */
  readonly readyMs: number;
  readonly #registry: InstanceRegistry;
  #stopping: Promise<void> | undefined;

  private constructor(registry: InstanceRegistry, id: string, root: string, rootKind: RootKind, sandbox: Sandbox, mux: HybridVsockMux, consoleLog: string, readyMs: number) {
    this.#registry = registry;
    this.id = id;
    this.root = root;
    this.rootKind = rootKind;
    this.sandbox = sandbox;
    this.mux = mux;
    this.consoleLog = consoleLog;
    this.readyMs = readyMs;
  }

  static async start(options: LocalInstanceOptions): Promise<LocalInstance> {
    const { registry, id } = options;
    const existing = await waitForPreviousHolder(registry, id);
    // A live pid in a running record: someone else runs this instance now.
    if (existing?.state === 'running' && existing.pid !== undefined) throw new InstanceInUseError(id, existing.pid);
    const guestDir = registry.guestDir(id);
    const socketDir = join(guestDir, 'agent');
    await mkdir(socketDir, { recursive: true });
    await rm(join(socketDir, 'agent.sock'), { force: true });
    const { root, binds, kind } = await prepareRoot(options, registry.dataDir);
    const consoleLog = join(guestDir, CONSOLE_LOG_NAME);
    const output = openSync(consoleLog, 'a');
    let sandbox: Sandbox;
    try {
      sandbox = await Sandbox.start({
        root,
        payload: options.image.payload,
        layout: options.image.layout,
        busybox: options.image.busybox === null ? null : join(options.image.payload, 'bin', 'busybox'),
        readOnlyBinds: binds,
        socketDir,
        hostname: id,
        isolate: options.isolate ?? process.getuid?.() === 0,
        agentArgs: options.agentArgs ?? [],
        output,
      });
    } finally {
      closeSync(output);
    }
    const mux = new HybridVsockMux({ socketPath: join(guestDir, VSOCK_SOCKET_NAME), ports: { [DEFAULT_AGENT_PORT]: sandbox.agentSocket } });
    try {
      await mux.listen();
      await registry.put({
        id,
        name: options.name ?? id,
        state: 'running',
        hypervisor: 'local',
        vsock: { socket: VSOCK_SOCKET_NAME },
        pid: sandbox.pid,
        createdAt: existing?.createdAt || new Date().toISOString(),
      });
      const readyMs = await sandbox.waitUntilReady(options.readyTimeoutMs ?? 30_000, consoleLog);
      const instance = new LocalInstance(registry, id, root, kind, sandbox, mux, consoleLog, readyMs);
      void sandbox.exited.then(() => instance.#recordStopped());
      return instance;
    } catch (error) {
      await sandbox.stop(0);
      await mux.close();
      await registry.update(id, { state: 'stopped', pid: undefined }).catch(() => undefined);
      throw error;
    }
  }

  get isolated(): boolean {
    return this.sandbox.isolated;
  }

  get vsockSocket(): string {
    return this.mux.socketPath;
  }

  /** Resolves when the agent's sandbox ends, by stop() or on its own. */
  get exited(): Promise<SandboxExit> {
    return this.sandbox.exited;
  }

  /**
   * Stops the agent (its running commands are hung up; after `graceMs` all is killed),
   * closes and removes the vsock socket, and records the instance as stopped.
   */
  stop(graceMs = 5000): Promise<void> {
    this.#stopping ??= (async () => {
      await this.sandbox.stop(graceMs);
      await this.mux.close();
      await rm(this.sandbox.agentSocket, { force: true });
      await this.#recordStopped();
    })();
    return this.#stopping;
  }

  async #recordStopped(): Promise<void> {
    // JSON drops the undefined pid: a stopped record names no process.
    await this.#registry.update(this.id, { state: 'stopped', pid: undefined }).catch(() => undefined);
  }
}

/** Where a root's programs come from: busybox alone, the host's /usr (no busybox here), or a root the user gave. */
export type RootKind = 'busybox' | 'host-userland' | 'given';

async function prepareRoot(options: LocalInstanceOptions, dataDir: string): Promise<{ root: string; binds: string[]; kind: RootKind }> {
  if (options.root === undefined) {
    const { busybox } = options.image;
    if (busybox !== null) {
      const root = join(dataDir, 'roots', options.id);
      await ensureBusyboxRoot(root, busybox);
      return { root, binds: [], kind: 'busybox' };
    }
    const root = join(dataDir, 'roots', `${options.id}-host`);
    return { root, binds: await ensureHostRoot(root), kind: 'host-userland' };
  }
  const root = resolve(options.root);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new RootNotUsableError(root, 'it is not a directory');
  if (root === '/') throw new RootNotUsableError(root, 'it is the host\'s own root (the sandbox mounts over its /dev and /proc)');
  return { root, binds: [], kind: 'given' };
}
