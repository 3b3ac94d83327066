import { loadAddon, nativeModuleExports, type NativeAddon } from '../../vsock/addon.js';
import type { HelperFailure, WaitStatus } from './Command.js';
import type { SpawnPlan } from './SpawnHelper.js';

/** The agent's end of a command started by the spawner: its pid (= process group) and stdio. */
export interface SpawnedProcess {
  readonly pid: number;
  /** Descriptors of the agent's ends of the three socket pairs, close-on-exec. */
  readonly stdin: number;
  readonly stdout: number;
  readonly stderr: number;
}

/** src/guest/native/spawner.c, as its module exports it. */
interface NativeSpawner {
  spawnCommand(
    argv: readonly string[],
    env: readonly string[],
    root: string,
    cwd: string,
    credentials: [number, number, readonly number[]] | null,
  ): { pid: number; pidfd: number; stdin: number; stdout: number; stderr: number } | Omit<HelperFailure, 'kind'>;
  reap(pid: number): number | null;
}

/** How long a watch whose poll failed waits before looking again (never seen: a pidfd has no error state). */
const REAP_RETRY_MS = 10;

let native: { spawner: NativeSpawner; addon: NativeAddon } | undefined;

function load(): { spawner: NativeSpawner; addon: NativeAddon } {
  if (native !== undefined) return native;
  const exports = nativeModuleExports();
  if (typeof exports.spawnCommand !== 'function' || typeof exports.reap !== 'function') {
    throw new Error("the agent's native module has no spawner (spawnCommand, reap); rebuild it with `npm run build:native`");
  }
  native = { spawner: exports as unknown as NativeSpawner, addon: loadAddon() };
  return native;
}

/** A raw wait status as the helper reports it (WIFEXITED / WTERMSIG / WCOREDUMP). */
export function decodeWaitStatus(status: number): WaitStatus {
  const signal = status & 0x7f;
  if (signal === 0) return { kind: 'exited', code: (status >> 8) & 0xff };
  return { kind: 'signaled', signal, coreDumped: (status & 0x80) !== 0 };
}

/**
 * Starts a command without a terminal from the agent's own process (spawner.c: clone with
 * CLONE_VM | CLONE_VFORK, chroot, its own session, user, groups, working directory, exec):
 * no copy of the agent, no second exec. Returns the running command, or why nothing runs,
 * synchronously; `onExit` is called once, with the wait status, when a command that started
 * has ended and been reaped. Throws when the native module cannot be loaded.
 */
export function spawnCommand(plan: SpawnPlan, env: Readonly<Record<string, string>>, onExit: (status: WaitStatus) => void): SpawnedProcess | HelperFailure {
  const { spawner, addon } = load();
  const c = plan.credentials;
  const result = spawner.spawnCommand(
    plan.argv,
    Object.entries(env).map(([name, value]) => `${name}=${value}`),
    plan.root,
    plan.cwd,
    c === null ? null : [c.uid, c.gid, c.groups],
  );
  if (!('pid' in result)) return { kind: 'failed', ...result };
  const { pid, pidfd } = result;
  // The pidfd turns readable when the command exits; the armed poll keeps the agent's loop alive until then.
  const watch = new addon.Socket(pidfd);
  const look = (status: number) => {
    const raw = spawner.reap(pid);
    if (raw !== null) {
      watch.close();
      onExit(decodeWaitStatus(raw));
    } else if (status < 0) {
      setTimeout(() => look(status), REAP_RETRY_MS);
    }
  };
  watch.onready = look;
  watch.poll(addon.READABLE);
  return { pid, stdin: result.stdin, stdout: result.stdout, stderr: result.stderr };
}
