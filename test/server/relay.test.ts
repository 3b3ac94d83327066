// The relay core on its own: a client socket that records what it is sent, and an agent
// played by the test on a real Unix socket (frames read with FrameDecoder, written by hand),
// so that each rule of spec §8 is checked without uWebSockets.js or a real agent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { ExecMetrics } from '../../src/host/server/ExecMetrics.js';
import type { RelayClient } from '../../src/host/server/relay/ClientDialect.js';
import { DEFAULT_RELAY_LIMITS, ExecRelay, type RelayLimits } from '../../src/host/server/relay/ExecRelay.js';
import {
  ExitKind,
  FrameDecoder,
  FrameType,
  type Message,
  type RawFrame,
  decodeSingleFrame,
  encodeDataFrame,
  encodeExecStart,
  encodeExit,
  encodePing,
  encodePong,
  encodeStdinClose,
  parseFrame,
} from '../../src/wire/index.js';

/** The WebSocket side: everything the relay sends, and a send buffer the test sets. */
class RecordingClient implements RelayClient {
  readonly messages: Array<{ binary: true; bytes: Uint8Array } | { binary: false; text: string }> = [];
  closed: { code: number; reason: string } | null = null;
  buffered = 0;
  #waiters: Array<() => void> = [];

  sendBinary(bytes: Uint8Array): boolean {
    this.messages.push({ binary: true, bytes: Uint8Array.prototype.slice.call(bytes) });
    this.#wake();
    return true;
  }

  sendText(text: string): boolean {
    this.messages.push({ binary: false, text });
    this.#wake();
    return true;
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  end(code: number, reason: string): void {
    this.closed = { code, reason };
    this.#wake();
  }

  /** Frames received, decoded (framed dialect). */
  frames(): Message[] {
    return this.messages.flatMap((m) => {
      if (!m.binary) return [];
      const raw = decodeSingleFrame(m.bytes);
      return raw ? [parseFrame(raw)] : [];
    });
  }

  async until(what: string, done: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.map((m) => (m.binary ? `bin:${m.bytes.length}` : m.text)))}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** The agent's end of one connection, played by the test. */
class ScriptedAgent {
  readonly frames: RawFrame[] = [];
  readonly raw: Buffer[] = [];
  ended = false;
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
    // Copies: the views die with the socket's chunk (and Buffer's slice() would not copy).
    const decoder = new FrameDecoder((f) => {
      const bytes = Uint8Array.prototype.slice.call(f.bytes);
      this.frames.push({ type: f.type, payload: bytes.subarray(5), bytes });
    });
    socket.on('data', (chunk) => {
      this.raw.push(chunk);
      decoder.push(chunk);
    });
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.ended = true));
    socket.on('error', () => undefined);
  }

  send(...frames: Uint8Array[]): void {
    for (const f of frames) this.#socket.write(f);
  }

  close(): void {
    this.#socket.destroy();
  }

  types(): number[] {
    return this.frames.map((f) => f.type);
  }
}

const started = (pid: number) => {
  const f = new Uint8Array(5 + 22);
  f.set([0, 0, 0, 22, FrameType.Started, 0, 1, 0, 0, pid >> 8, pid & 0xff], 0);
  return f;
};
const exitWith = (code: number, stdoutBytes = 0) =>
  encodeExit({ kind: ExitKind.Exited, code, signal: 0, coreDumped: false, stdoutBytes, stderrBytes: 0 });

describe('ExecRelay', () => {
  let dir: string;
  let server: Server;
  let socketPath: string;
  let agents: ScriptedAgent[];
  let dialled: Socket[];
  let auditLines: string[];
  let metrics: ExecMetrics;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hypeman-relay-'));
    socketPath = join(dir, 'agent.sock');
    agents = [];
    dialled = [];
    auditLines = [];
    metrics = new ExecMetrics();
    server = createServer((s) => agents.push(new ScriptedAgent(s)));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  afterEach(async () => {
    for (const s of dialled) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  function relay(dialect: 'framed' | 'compat', options: { limits?: Partial<RelayLimits>; query?: boolean } = {}) {
    const client = new RecordingClient();
    const r = new ExecRelay(client, {
      dialect,
      queryRequest: options.query ? { argv: ['echo', 'q'], env: {}, cwd: '', user: '', tty: false, timeoutSeconds: 0 } : null,
      waitForAgentSeconds: 0,
      connectAgent: () =>
        new Promise((resolve, reject) => {
          const s = connect(socketPath, () => {
            s.pause();
            resolve(s);
          });
          s.once('error', reject);
          dialled.push(s);
        }),
      admit: () => null,
      subject: 'alice',
      instance: 'web-id',
      remoteAddress: '127.0.0.1',
      metrics,
      audit: pino({ level: 'info' }, { write: (line: string) => void auditLines.push(line) }),
      limits: { ...DEFAULT_RELAY_LIMITS, ...options.limits },
    });
    r.open();
    return { client, relay: r };
  }

  async function agentOf(n = 0): Promise<ScriptedAgent> {
    const deadline = Date.now() + 5000;
    while (agents.length <= n) {
      if (Date.now() > deadline) throw new Error('the relay never connected the agent');
      await new Promise((r) => setTimeout(r, 5));
    }
    return agents[n];
  }

  async function agentReceived(agent: ScriptedAgent, what: string, done: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`the agent never received ${what}; got types ${agent.types()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  const send = (r: ExecRelay, bytes: Uint8Array) => r.clientMessage(Uint8Array.prototype.slice.call(bytes).buffer, true);
  const text = (r: ExecRelay, t: string) => r.clientMessage(new TextEncoder().encode(t).buffer, false);

  describe('framed dialect', () => {
    it('forwards the client frames byte for byte and relays the agent frames as received, then closes 1000', async () => {
      const { client, relay: r } = relay('framed');
      const execStart = encodeExecStart({ argv: ['cat'], env: { A: '1' } });
      send(r, execStart);
      send(r, encodeDataFrame(FrameType.Stdin, Buffer.from('hi')));
      send(r, encodeStdinClose());
      const agent = await agentOf();
      await agentReceived(agent, 'ExecStart, Stdin, StdinClose', () => agent.frames.length === 3);
      assert.deepEqual(Buffer.concat(agent.raw), Buffer.concat([execStart, encodeDataFrame(FrameType.Stdin, Buffer.from('hi')), encodeStdinClose()]));

      const out = [started(4242), encodeDataFrame(FrameType.Stdout, Buffer.from('hi')), exitWith(0, 2)];
      agent.send(...out);
      await client.until('the close', () => client.closed !== null);
      const relayed = client.messages.filter((m) => m.binary && m.bytes[4] !== FrameType.StdinCredit).map((m) => (m.binary ? Buffer.from(m.bytes) : null));
      assert.deepEqual(relayed, out.map((f) => Buffer.from(f)));
      assert.deepEqual(client.closed, { code: 1000, reason: 'exited' });
      await agentReceived(agent, 'the hang-up', () => agent.ended);

      const audit = JSON.parse(auditLines.at(-1)!);
      assert.equal(audit.audit, 'exec');
      assert.deepEqual(audit.argv, ['cat']);
      assert.equal(audit.pid, 4242);
      assert.equal(audit.result, 'exited');
      assert.equal(audit.exitCode, 0);
      assert.equal(audit.bytesIn, 2);
      assert.equal(audit.bytesOut, 2);
      assert.equal(audit.dialect, 'framed');
    });

    it('relays a 64 KiB Stdout frame as one message, byte for byte', async () => {
      const { client } = relay('framed', { query: true });
      const agent = await agentOf();
      const data = Buffer.alloc(65536);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      const frame = encodeDataFrame(FrameType.Stdout, data);
      agent.send(started(1), frame, exitWith(0, data.length));
      await client.until('the close', () => client.closed !== null);
      const pieces = client.frames().filter((m) => m.type === FrameType.Stdout);
      assert.equal(pieces.length, 1);
      const message = client.messages.find((m) => m.binary && m.bytes[4] === FrameType.Stdout);
      assert.deepEqual(message?.binary ? Buffer.from(message.bytes) : null, Buffer.from(frame));
    });

    it('returns credit for the Stdin the agent connection took, joining consecutive Stdin frames on the way', async () => {
      const { client, relay: r } = relay('framed');
      send(r, encodeExecStart({ argv: ['cat'] }));
      const agent = await agentOf();
      const data = new Uint8Array(40 * 16384);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      for (let i = 0; i < 40; i++) send(r, encodeDataFrame(FrameType.Stdin, data.subarray(i * 16384, (i + 1) * 16384)));
      const credited = () => client.frames().reduce((sum, m) => sum + (m.type === FrameType.StdinCredit ? m.bytes : 0), 0);
      await client.until('credit for 640 KiB', () => credited() === data.length);
      const stdin = () => agent.frames.filter((f) => f.type === FrameType.Stdin);
      await agentReceived(agent, '640 KiB of Stdin', () => stdin().reduce((n, f) => n + f.payload.length, 0) === data.length);
      assert.deepEqual(Buffer.concat(stdin().map((f) => f.payload)), Buffer.from(data));
      // Sent in one turn of the event loop, they go out joined, in frames of at most 64 KiB.
      assert.ok(stdin().length < 40, `${stdin().length} Stdin frames`);
      assert.ok(stdin().every((f) => f.payload.length <= 65536));
      r.clientClosed(1000);
    });

    it('counts what a client is ahead of the agent in Stdin payload bytes: 5 MiB of 16-byte frames pass, one byte more is FLOW_CONTROL', async () => {
      const { client, relay: r } = relay('framed', { limits: { smallMessagesPerSecond: 0 } });
      send(r, encodeExecStart({ argv: ['cat'] }));
      const sixteen = encodeDataFrame(FrameType.Stdin, new Uint8Array(16));
      // Sent without yielding to the event loop: nothing reaches the agent meanwhile, so all
      // of it is ahead. With the 5-byte headers counted, the cap would fall below 4 MiB.
      for (let i = 0; i < (5 * 1024 * 1024) / 16; i++) send(r, sixteen);
      assert.equal(client.closed, null);
      send(r, encodeDataFrame(FrameType.Stdin, new Uint8Array(1)));
      assert.deepEqual(client.closed, { code: 4006, reason: 'FLOW_CONTROL' });
    });

    it('keeps frames of other types between Stdin in their place', async () => {
      const { relay: r } = relay('framed');
      send(r, encodeExecStart({ argv: ['cat'], tty: true }));
      send(r, encodeDataFrame(FrameType.Stdin, Buffer.from('ab')));
      send(r, encodeDataFrame(FrameType.Stdin, Buffer.from('cd')));
      send(r, Uint8Array.of(0, 0, 0, 4, FrameType.WindowSize, 0, 30, 0, 90));
      send(r, encodeDataFrame(FrameType.Stdin, Buffer.from('ef')));
      send(r, encodeStdinClose());
      const agent = await agentOf();
      await agentReceived(agent, 'StdinClose', () => agent.types().includes(FrameType.StdinClose));
      assert.deepEqual(agent.types(), [FrameType.ExecStart, FrameType.Stdin, FrameType.WindowSize, FrameType.Stdin, FrameType.StdinClose]);
      assert.deepEqual(agent.frames.filter((f) => f.type === FrameType.Stdin).map((f) => Buffer.from(f.payload).toString()), ['abcd', 'ef']);
      r.clientClosed(1000);
    });

    it('does not relay the Pong answering its own Ping, and ends with PEER_UNRESPONSIVE when no Pong comes', async () => {
      const { client, relay: r } = relay('framed', { query: true, limits: { agentKeepAliveMs: 40 } });
      const agent = await agentOf();
      agent.send(started(1));
      await agentReceived(agent, 'a Ping', () => agent.frames.some((f) => f.type === FrameType.Ping));
      const ping = agent.frames.find((f) => f.type === FrameType.Ping)!;
      agent.send(encodePong(ping.payload));
      // A Pong the client's own Ping would get is relayed; ours is not.
      await client.until('PEER_UNRESPONSIVE once the agent falls silent', () => client.closed !== null, 5000);
      assert.equal(client.frames().some((m) => m.type === FrameType.Pong), false);
      assert.deepEqual(client.closed, { code: 4035, reason: 'PEER_UNRESPONSIVE' });
      assert.ok(r.ended);
    });

    it('relays a Ping from the agent to the client, which answers for itself', async () => {
      const { client } = relay('framed', { query: true });
      const agent = await agentOf();
      const token = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
      agent.send(started(1), encodePing(token));
      await client.until('the Ping', () => client.frames().some((m) => m.type === FrameType.Ping));
      agent.send(exitWith(0));
      await client.until('the close', () => client.closed !== null);
    });

    it('fails a text message with MALFORMED_FRAME and close 4001', async () => {
      const { client, relay: r } = relay('framed');
      text(r, '{"command":["ls"]}');
      await client.until('the close', () => client.closed !== null);
      const [error] = client.frames();
      assert.equal(error.type, FrameType.Error);
      assert.equal(error.type === FrameType.Error && error.code, 'MALFORMED_FRAME');
      assert.deepEqual(client.closed, { code: 4001, reason: 'MALFORMED_FRAME' });
    });

    it('refuses ExecStart when the request came in the query (UNEXPECTED_FRAME, 4004)', async () => {
      const { client, relay: r } = relay('framed', { query: true });
      send(r, encodeExecStart({ argv: ['ls'] }));
      await client.until('the close', () => client.closed !== null);
      assert.deepEqual(client.closed, { code: 4004, reason: 'UNEXPECTED_FRAME' });
    });
  });

  describe('compatible dialect', () => {
    it('translates the JSON request, stdin and control messages to frames, and output, exit and errors back', async () => {
      const { client, relay: r } = relay('compat');
      text(r, JSON.stringify({ command: ['sh', '-c', 'cat; exit 3'], env: { K: 'V' } }));
      send(r, Buffer.from('abc'));
      text(r, '{"type":"resize","rows":40,"cols":100}');
      text(r, '{"type":"stdin_close"}');
      const agent = await agentOf();
      await agentReceived(agent, 'four frames', () => agent.frames.length === 4);
      assert.deepEqual(Buffer.from(agent.frames[0].bytes), Buffer.from(encodeExecStart({ argv: ['sh', '-c', 'cat; exit 3'], env: { K: 'V' } })));
      assert.deepEqual(agent.types(), [FrameType.ExecStart, FrameType.Stdin, FrameType.WindowSize, FrameType.StdinClose]);

      const token = Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9);
      agent.send(started(7), encodePing(token), encodeDataFrame(FrameType.Stdout, Buffer.from('out')), encodeDataFrame(FrameType.Stderr, Buffer.from('err')));
      // The original's clients know no Ping: the relay answers it for them.
      await agentReceived(agent, 'the Pong', () => agent.frames.some((f) => f.type === FrameType.Pong));
      assert.deepEqual(Buffer.from(agent.frames.find((f) => f.type === FrameType.Pong)!.payload), Buffer.from(token));
      agent.send(exitWith(3, 3));
      await client.until('the close', () => client.closed !== null);
      assert.deepEqual(
        client.messages.map((m) => (m.binary ? Buffer.from(m.bytes).toString() : m.text)),
        ['out', 'err', '{"exitCode":3}'],
      );
      assert.deepEqual(client.closed, { code: 1000, reason: 'exited' });
    });

    it('starts the default command when the first message is binary stdin', async () => {
      const { relay: r } = relay('compat');
      send(r, Buffer.from('echo hi\n'));
      const agent = await agentOf();
      await agentReceived(agent, 'ExecStart and Stdin', () => agent.frames.length === 2);
      assert.deepEqual(Buffer.from(agent.frames[0].bytes), Buffer.from(encodeExecStart({})));
      assert.equal(Buffer.from(agent.frames[1].payload).toString(), 'echo hi\n');
      r.clientClosed(1000);
    });

    it('reports its own failures as JSON and close 4000 + code', async () => {
      const { client, relay: r } = relay('compat');
      text(r, '{"command":["ls"]}');
      text(r, '{"type":"teleport"}');
      await client.until('the close', () => client.closed !== null);
      const last = client.messages.at(-1)!;
      assert.equal(last.binary, false);
      assert.equal(!last.binary && JSON.parse(last.text).code, 'INVALID_REQUEST');
      assert.deepEqual(client.closed, { code: 4016, reason: 'INVALID_REQUEST' });
    });
  });

  describe('both dialects', () => {
    for (const dialect of ['framed', 'compat'] as const) {
      it(`${dialect}: holds the agent back while the client's send buffer is full, and lets it go on drain`, async () => {
        const { client, relay: r } = relay(dialect, { query: true, limits: { sendHighWater: 1000 } });
        const agent = await agentOf();
        const agentSocket = dialled[0];
        agent.send(started(1));
        client.buffered = 5000;
        agent.send(encodeDataFrame(FrameType.Stdout, new Uint8Array(10)));
        await client.until('the first output', () => client.messages.length >= (dialect === 'framed' ? 2 : 1));
        assert.equal(agentSocket.isPaused(), true);
        client.buffered = 0;
        r.clientDrain();
        assert.equal(agentSocket.isPaused(), false);
        agent.send(exitWith(0, 10));
        await client.until('the close', () => client.closed !== null);
      });

      it(`${dialect}: a client that closes hangs the agent connection up and is audited as client_closed`, async () => {
        const { relay: r } = relay(dialect, { query: true });
        const agent = await agentOf();
        agent.send(started(1));
        r.clientClosed(1006);
        await agentReceived(agent, 'the hang-up', () => agent.ended);
        const audit = JSON.parse(auditLines.at(-1)!);
        assert.equal(audit.result, 'client_closed');
        assert.match(audit.reason, /\(1006\)/);
        assert.equal((await metrics.active.get()).values[0].value, 0);
      });

      it(`${dialect}: an agent connection lost mid-session ends it with an Error`, async () => {
        const { client } = relay(dialect, { query: true });
        const agent = await agentOf();
        agent.send(started(1));
        await new Promise((resolve) => setTimeout(resolve, 20));
        agent.close();
        await client.until('the close', () => client.closed !== null);
        assert.deepEqual(client.closed, { code: 4050, reason: 'AGENT_DISCONNECTED' });
      });

      it(`${dialect}: a session without a request ends when the request timeout passes`, async () => {
        const { client } = relay(dialect, { limits: { requestTimeoutMs: 50 } });
        await client.until('the close', () => client.closed !== null);
        assert.deepEqual(client.closed, { code: 4007, reason: 'START_TIMEOUT' });
      });
    }
  });
});
