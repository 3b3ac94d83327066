/**
 * Runs the image's agent the way /init does in a VM: chrooted into a container root where
 * the agent payload is bind-mounted read-only, in new mount, pid, uts and ipc namespaces
 * (util-linux `unshare`), with its own /proc, a minimal /dev with a private devpts, and a
 * busybox shell as PID 1 that reaps orphans. The agent listens on a Unix socket in a host
 * directory bind-mounted into the root at /run/hypeman, so the host reaches it from outside.
 *
 * Everything but `unshare` comes from the payload itself (its busybox), so the host needs no
 * other tools; on a host without busybox the payload has none, and the host's own shell and
 * tools (dash, mount, chroot: every Debian has them) do the same work. Stopping: the sandbox's first process passes SIGTERM to the agent (sessions
 * are hung up), then exits (as PID 1 of the namespace) and the kernel kills whatever is left in the pid namespace; mounts vanish
 * with the mount namespace. `unshare --kill-child` does the same if unshare itself is killed.
 *
 * Without root privileges there are no namespaces and no chroot: the agent runs directly
 * from the payload (its own loader and libraries), with --root /, as the calling user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ImageLayout } from '../initrd/ImageLayout.js';
import { nodeCommand } from '../initrd/ImageLayout.js';
import { AgentNotReadyError, SandboxStartError } from './errors.js';

/** Where the host's socket directory appears inside the root. */
export const SANDBOX_SOCKET_DIR = '/run/hypeman';
export const AGENT_SOCKET_NAME = 'agent.sock';

const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The sandbox's first process (PID 1 of its namespace when isolated): busybox's shell,
 * running the script in SCRIPT_VARIABLE, with its parameters in PARAMETERS. Its argv is
 * only `sh -c eval "$HYPEMAN_SANDBOX" hypeman-sandbox`, then the agent's argv (isolated: the
 * agent's own arguments; direct: the whole command), so that `ps`, on the host or in the
 * container, shows what it is rather than a 2 KB script and the host's paths.
 *
 * Its stdin is a pipe from the host process that started it, held open as fd 3: when that
 * process dies, however it dies, the pipe reads EOF and the sandbox stops itself. No agent
 * outlives its `npm start`.
 */
const SCRIPT_VARIABLE = 'HYPEMAN_SANDBOX';
const PROCESS_NAME = 'hypeman-sandbox';
/** Environment variable → the script's variable. */
const PARAMETERS = {
  HYPEMAN_SANDBOX_BUSYBOX: 'bb',
  HYPEMAN_SANDBOX_ROOT: 'root',
  HYPEMAN_SANDBOX_PAYLOAD: 'payload',
  HYPEMAN_SANDBOX_INNER: 'inner',
  HYPEMAN_SANDBOX_SOCKETS: 'sockets',
  HYPEMAN_SANDBOX_LAUNCHER: 'launcher',
  HYPEMAN_SANDBOX_BINDS: 'binds',
  HYPEMAN_SANDBOX_HOSTNAME: 'name',
} as const;

const SANDBOX_PRELUDE = `
${Object.entries(PARAMETERS).map(([env, name]) => `${name}=$${env}`).join(' ')}
unset ${SCRIPT_VARIABLE} ${Object.keys(PARAMETERS).join(' ')}
fail() { echo "hypeman-sandbox: $*" >&2; exit 1; }
exec 3<&0 </dev/null
`;

const SANDBOX_MOUNTS = `
$bb mkdir -p "$root/proc" "$root/dev" "$root$inner" "$root${SANDBOX_SOCKET_DIR}" || fail "cannot create the mount points in $root"
$bb mount -t proc proc "$root/proc" || fail "cannot mount /proc"
$bb mount -t tmpfs -o mode=0755,nosuid dev "$root/dev" || fail "cannot mount /dev"
device() { $bb mknod -m 666 "$root/dev/$1" c "$2" "$3" || fail "cannot create /dev/$1"; }
device null 1 3; device zero 1 5; device full 1 7; device random 1 8; device urandom 1 9; device tty 5 0
$bb mkdir -p "$root/dev/pts" "$root/dev/shm"
# A devpts of its own: the container sees only its own terminals.
$bb mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts" || fail "cannot mount /dev/pts"
$bb ln -s pts/ptmx "$root/dev/ptmx"
$bb ln -s /proc/self/fd "$root/dev/fd"
$bb ln -s /proc/self/fd/0 "$root/dev/stdin"; $bb ln -s /proc/self/fd/1 "$root/dev/stdout"; $bb ln -s /proc/self/fd/2 "$root/dev/stderr"
$bb mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm" || fail "cannot mount /dev/shm"
$bb mount --bind "$payload" "$root$inner" || fail "cannot bind the agent payload into the root"
$bb mount -o remount,bind,ro "$root$inner" || fail "cannot make the agent payload read-only"
$bb mount --bind "$sockets" "$root${SANDBOX_SOCKET_DIR}" || fail "cannot bind the socket directory into the root"
for dir in $binds; do
  $bb mount --bind "$dir" "$root$dir" && $bb mount -o remount,bind,ro "$root$dir" || fail "cannot bind the host's $dir read-only into the root"
done
$bb hostname "$name"
$bb env -i PATH='${CONTAINER_PATH}' HOME=/root $bb chroot "$root" "$launcher" --listen unix:${SANDBOX_SOCKET_DIR}/${AGENT_SOCKET_NAME} --root / "$@" 3<&- &
`;

const SANDBOX_DIRECT = `
"$@" 3<&- &
`;

const SANDBOX_SUPERVISION = `
agent=$!
trap '$bb kill -TERM $agent 2>/dev/null' TERM INT HUP
( $bb cat <&3 >/dev/null; $bb kill -TERM $$ ) &
exec 3<&-
# wait returns early when a trapped signal arrives: only a gone agent ends the sandbox.
wait $agent; rc=$?
while $bb kill -0 $agent 2>/dev/null; do wait $agent; rc=$?; done
exit $rc
`;

export interface SandboxOptions {
  /** The container root (host path). */
  readonly root: string;
  /** The agent payload on the host (the image's /.hypeman). */
  readonly payload: string;
  readonly layout: ImageLayout;
  /**
   * Host directory where the agent's socket appears (created by the caller). Its parent
   * gets bin/sh, the link to the payload's busybox that PID 1 runs as.
   */
  readonly socketDir: string;
  /** The sandbox's host name (uts namespace). */
  readonly hostname: string;
  /** The payload's busybox for PID 1's shell and tools; null: the host's (/bin/sh and PATH). */
  readonly busybox: string | null;
  /** Host directories bound read-only into the root at the same paths (a HostRoot's /usr…). */
  readonly readOnlyBinds?: readonly string[];
  /** Namespaces and chroot (needs root); false runs the agent directly on the host. */
  readonly isolate: boolean;
  /** More agent arguments (--max-sessions, --env …). */
  readonly agentArgs?: readonly string[];
  /** Where the sandbox's output goes (the instance's console log); default discarded. */
  readonly output?: number | 'inherit' | 'ignore';
}

export interface SandboxExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class Sandbox {
  /** The process that holds the sandbox: `unshare`, or the agent itself without namespaces. */
  readonly pid: number;
  /** The agent's socket, as the host sees it. */
  readonly agentSocket: string;
  readonly isolated: boolean;
  readonly exited: Promise<SandboxExit>;
  readonly #child: ChildProcess;
  #exit: SandboxExit | undefined;

  private constructor(child: ChildProcess, agentSocket: string, isolated: boolean) {
    this.#child = child;
    this.pid = child.pid!;
    this.agentSocket = agentSocket;
    this.isolated = isolated;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      }),
    );
  }

  static async start(options: SandboxOptions): Promise<Sandbox> {
    const agentSocket = join(options.socketDir, AGENT_SOCKET_NAME);
    const shell = await shellLink(options);
    const script = sandboxScript(options.isolate ? SANDBOX_MOUNTS : SANDBOX_DIRECT);
    const rest = options.isolate ? (options.agentArgs ?? []) : directAgentArgv(options, agentSocket);
    const shellArgv = ['sh', '-c', `eval "$${SCRIPT_VARIABLE}"`, PROCESS_NAME, ...rest];
    // unshare execs its program by name: it finds the link through PATH, so that argv[0] is
    // `sh` (busybox runs the applet its argv[0] names).
    const argv = options.isolate ? ['unshare', '--mount', '--pid', '--uts', '--ipc', '--fork', '--kill-child', '--', ...shellArgv] : shellArgv;
    const path = `${dirname(shell)}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
    const child = spawn(options.isolate ? 'unshare' : shell, argv.slice(1), {
      argv0: argv[0],
      // Its own process group: a Ctrl-C meant for `npm start` must not reach the agent
      // before the orderly stop does.
      detached: true,
      stdio: ['pipe', options.output ?? 'ignore', options.output ?? 'ignore'],
      env: {
        PATH: options.isolate ? path : (process.env.PATH ?? CONTAINER_PATH),
        ...(options.isolate ? {} : { HOME: process.env.HOME ?? '/' }),
        [SCRIPT_VARIABLE]: script,
        ...sandboxParameters(options),
      },
    });
    child.stdin!.on('error', () => undefined); // EPIPE once the sandbox is gone
    return new Promise((resolve, reject) => {
      child.once('error', (error) => reject(new SandboxStartError(`${argv[0]}: ${error.message}${options.isolate ? ' (install util-linux)' : ''}`)));
      child.once('spawn', () => resolve(new Sandbox(child, agentSocket, options.isolate)));
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Waits until the agent accepts a connection on its socket; returns the milliseconds waited. */
  async waitUntilReady(timeoutMs: number, logPath = 'the instance log'): Promise<number> {
    const started = performance.now();
    while (!(await accepts(this.agentSocket))) {
      if (this.#exit) throw new SandboxStartError(`status ${this.#exit.code ?? this.#exit.signal}; see ${logPath}`);
      if (performance.now() - started > timeoutMs) throw new AgentNotReadyError(this.agentSocket, timeoutMs / 1000, logPath);
      await new Promise((r) => setTimeout(r, 10));
    }
    return performance.now() - started;
  }

  /**
   * Stops the agent (SIGTERM: running commands are hung up) and waits for the sandbox to end;
   * after `graceMs` everything in it is killed.
   */
  async stop(graceMs = 5000): Promise<SandboxExit> {
    if (this.#exit) return this.#exit;
    // Closing the lifeline makes the sandbox's first process stop the agent (SIGTERM);
    // unshare itself ignores SIGTERM.
    this.#child.stdin?.end();
    const timer = setTimeout(() => signal(this.pid, 'SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

/** The payload's own loader, libraries and node, at their host paths, running the agent. */
function directAgentArgv(options: SandboxOptions, agentSocket: string): string[] {
  const onHost = (path: string) => join(options.payload, path.slice(options.layout.payload.length));
  const layout = { ...options.layout, loader: onHost(options.layout.loader), libraries: onHost(options.layout.libraries), node: onHost(options.layout.node) };
  return nodeCommand(layout, [onHost(options.layout.agentBundle), '--listen', `unix:${agentSocket}`, '--root', '/', ...(options.agentArgs ?? [])]);
}

function sandboxScript(body: string): string {
  return SANDBOX_PRELUDE + body + SANDBOX_SUPERVISION;
}

function sandboxParameters(options: SandboxOptions): Record<keyof typeof PARAMETERS, string> {
  return {
    // Empty: the script's `$bb mount …` runs the host's mount from PATH.
    HYPEMAN_SANDBOX_BUSYBOX: options.busybox ?? '',
    HYPEMAN_SANDBOX_ROOT: options.root,
    HYPEMAN_SANDBOX_PAYLOAD: options.payload,
    HYPEMAN_SANDBOX_INNER: options.layout.payload,
    HYPEMAN_SANDBOX_SOCKETS: options.socketDir,
    HYPEMAN_SANDBOX_LAUNCHER: options.layout.launcher,
    HYPEMAN_SANDBOX_BINDS: (options.readOnlyBinds ?? []).join(' '),
    HYPEMAN_SANDBOX_HOSTNAME: options.hostname,
  };
}

/**
 * `sh`, in bin/ beside the socket directory: the name PID 1 runs as. A link to the payload's
 * busybox (which runs the applet its argv[0] names), or to the host's /bin/sh.
 */
async function shellLink(options: SandboxOptions): Promise<string> {
  const dir = join(dirname(options.socketDir), 'bin');
  const link = join(dir, 'sh');
  await mkdir(dir, { recursive: true });
  await rm(link, { force: true });
  await symlink(options.busybox ?? '/bin/sh', link);
  return link;
}

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}
