// A TTY session through the API server's framed dialect for the recording tests: typed lines,
// resizes, and the screen the client's own output draws in a headless xterm.js.
import { FrameType, type ExitMessage, type StartedMessage, encodeDataFrame, encodeExecStart, encodeWindowSize } from '../../src/wire/index.js';
import { waitUntil } from '../guest/agentProcess.js';
import { HeadlessScreen } from './asciicast.js';
import { FramedClient, type Stack, execUrl } from './stack.js';

/** A TTY session through the framed dialect, its output decoded as a user sees it. */
export class TtySession {
  readonly client: FramedClient;
  /** What the client's own terminal shows: its output, and its resizes at the point it made them. */
  readonly live: HeadlessScreen;
  #written = 0;
  #liveWrites: Promise<void> = Promise.resolve();

  constructor(client: FramedClient, cols: number, rows: number) {
    this.client = client;
    this.live = new HeadlessScreen(cols, rows);
  }

  static async start(stack: Stack, request: Parameters<typeof encodeExecStart>[0] = {}, token = stack.token): Promise<TtySession> {
    const window = request.window ?? { rows: 24, cols: 80 };
    const client = new FramedClient(execUrl(stack.url, 'web'), { token });
    await client.opened();
    client.send(encodeExecStart({ argv: ['sh'], tty: true, window, env: { PS1: '$ ', TERM: 'xterm-256color' }, ...request }));
    const session = new TtySession(client, window.cols, window.rows);
    await session.started();
    return session;
  }

  async started(): Promise<StartedMessage> {
    await waitUntil(() => this.client.messages.some((m) => m.type === FrameType.Started || m.type === FrameType.Resumed), 'Started');
    return this.client.messages.find((m) => m.type === FrameType.Started) as StartedMessage;
  }

  /** All output so far, as one buffer. */
  output(): Buffer {
    return Buffer.concat(this.client.messages.filter((m) => m.type === FrameType.Stdout).map((m) => Buffer.from((m as { data: Uint8Array }).data)));
  }

  /** Waits for `text` in the output after `from` bytes; feeds the live screen what came. */
  async waitFor(text: string, from = 0): Promise<void> {
    await waitUntil(() => this.output().subarray(from).toString('utf8').includes(text), JSON.stringify(text));
    await this.#feed();
  }

  async #feed(): Promise<void> {
    const out = this.output();
    const fresh = out.subarray(this.#written);
    this.#written = out.length;
    this.#liveWrites = this.#liveWrites.then(() => this.live.write(Uint8Array.from(fresh)));
    await this.#liveWrites;
  }

  /** Types a line at the prompt and waits for the next prompt. */
  async type(line: string, expect?: string): Promise<void> {
    const from = this.output().length;
    this.client.send(encodeDataFrame(FrameType.Stdin, Buffer.from(`${line}\n`)));
    if (expect) await this.waitFor(expect, from);
    await this.waitFor('$ ', from + line.length);
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.#feed();
    this.live.resize(cols, rows);
    this.client.send(encodeWindowSize({ rows, cols }));
  }

  async exit(code: number): Promise<ExitMessage> {
    this.client.send(encodeDataFrame(FrameType.Stdin, Buffer.from(`exit ${code}\n`)));
    const result = await this.client.done;
    await this.#feed();
    return result.messages.find((m) => m.type === FrameType.Exit) as ExitMessage;
  }
}

