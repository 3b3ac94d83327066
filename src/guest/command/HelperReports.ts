import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { LISTEN_BACKLOG } from '../../vsock/backlog.js';

/** Where the helper was when it gave up (spawn-helper.c). */
export type HelperStage = 'chroot' | 'fork' | 'credentials' | 'cwd' | 'exec';

/** One line the helper sends about its command. */
export type HelperReport =
  | { readonly kind: 'started'; readonly pid: number }
  | { readonly kind: 'failed'; readonly stage: HelperStage; readonly errno: number; readonly fileExists: boolean; readonly text: string }
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signaled'; readonly signal: number; readonly coreDumped: boolean }
  /** The terminal's input has all been read after the client closed it: type ^D (spec §9.8). */
  | { readonly kind: 'type-eof' };

export interface HelperChannelObserver {
  /** The helper connected and identified itself; `channel.release()` lets it exit. */
  connected(channel: HelperChannel): void;
  report(report: HelperReport): void;
  /** The helper's connection closed (it exited, or was killed). */
  closed(): void;
}

/** A helper's connection, until the agent releases it (the helper then exits). */
export interface HelperChannel {
  release(): void;
  /** Tells a terminal command's helper that the client closed the input (it then asks for ^Ds). */
  stdinClosed(): void;
}

const STAGES: ReadonlySet<string> = new Set<HelperStage>(['chroot', 'fork', 'credentials', 'cwd', 'exec']);
/** A helper that connects but does not say who it is within this time is dropped. */
const HELLO_TIMEOUT_MS = 10_000;
/** Longest line the helper sends; more without a newline is not our helper. */
const MAX_LINE = 1024;

export function parseHelperReport(line: string): HelperReport | null {
  const f = line.split(' ');
  const int = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : NaN);
  switch (f[0]) {
    case 'started':
      return Number.isSafeInteger(int(f[1])) ? { kind: 'started', pid: int(f[1]) } : null;
    case 'failed':
      if (!STAGES.has(f[1]) || Number.isNaN(int(f[2])) || Number.isNaN(int(f[3]))) return null;
      return { kind: 'failed', stage: f[1] as HelperStage, errno: int(f[2]), fileExists: f[3] === '1', text: f.slice(4).join(' ') };
    case 'exited':
      return Number.isNaN(int(f[1])) ? null : { kind: 'exited', code: int(f[1]) };
    case 'signaled':
      return Number.isNaN(int(f[1])) ? null : { kind: 'signaled', signal: int(f[1]), coreDumped: f[2] === '1' };
    case 'type-eof':
      return f.length === 1 ? { kind: 'type-eof' } : null;
    default:
      return null;
  }
}

/**
 * The agent's end of the helpers' report channel: one abstract Unix socket (no file
 * system needed, so it works before and after the helper's chroot) that every helper
 * connects to. A helper proves which session it belongs to with a random token it got in
 * its environment, which only root can read.
 */
export class HelperReportServer {
  readonly #server: Server;
  readonly #name: string;
  readonly #expected = new Map<string, HelperChannelObserver>();
  readonly #connections = new Set<Socket>();

  private constructor(server: Server, name: string) {
    this.#server = server;
    this.#name = name;
    server.on('connection', (socket) => this.#accept(socket));
    // accept() failing (EMFILE under load) must not take the agent down; the helper that
    // could not connect exits and its session reports SPAWN_FAILED.
    server.on('error', () => {});
  }

  static async listen(): Promise<HelperReportServer> {
    const name = `hypeman-exec-agent.${process.pid}.${randomBytes(8).toString('hex')}`;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: `\0${name}`, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new HelperReportServer(server, name);
  }

  /** Registers a helper about to be spawned; returns the environment it needs. */
  expect(observer: HelperChannelObserver): { token: string; env: Record<string, string>; cancel: () => void } {
    const token = randomBytes(16).toString('hex');
    this.#expected.set(token, observer);
    return {
      token,
      env: { HYPEMAN_EXEC_REPORT: this.#name, HYPEMAN_EXEC_TOKEN: token },
      cancel: () => this.#expected.delete(token),
    };
  }

  async close(): Promise<void> {
    for (const socket of this.#connections) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setEncoding('latin1');
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    let buffered = '';
    let observer: HelperChannelObserver | null = null;
    socket.on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (observer === null) {
          const token = line.startsWith('hello ') ? line.slice(6) : '';
          observer = this.#expected.get(token) ?? null;
          if (observer === null) return void socket.destroy();
          this.#expected.delete(token);
          clearTimeout(helloTimer);
          const bound = observer;
          socket.on('close', () => bound.closed());
          bound.connected({ release: () => socket.destroy(), stdinClosed: () => void socket.write('stdin-closed\n') });
          continue;
        }
        const report = parseHelperReport(line);
        if (report !== null) observer.report(report);
      }
      if (buffered.length > MAX_LINE) socket.destroy();
    });
    socket.on('close', () => clearTimeout(helloTimer));
  }
}
