// ExecSession against scripted peers, for what the real agent never does: lie about byte
// counts, vanish mid-session, break the protocol, ping, withhold stdin credit. Each peer is
// a real Unix (or WebSocket) server that writes the frames of its script byte for byte.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type WebSocket, WebSocketServer } from 'ws';
import { type ExecSession, execInInstance } from '../../src/host/client/index.js';
import {
  ExitKind,
  FrameDecoder,
  FrameType,
  type Message,
  WEBSOCKET_SUBPROTOCOL,
  decodeSingleFrame,
  encodeDataFrame,
  encodeError,
  encodeExit,
  encodePing,
  encodeStarted,
  encodeStdinCredit,
  parseFrame,
} from '../../src/wire/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hypeman-scripted-'));
let n = 0;
const SESSION_ID = new Uint8Array(16).fill(7);
const started = () => encodeStarted(42, SESSION_ID);
const stdout = (text: string) => encodeDataFrame(FrameType.Stdout, Buffer.from(text));
const exit = (stdoutBytes: number, stderrBytes = 0) =>
  encodeExit({ kind: ExitKind.Exited, code: 0, signal: 0, coreDumped: false, stdoutBytes, stderrBytes });

/** A Unix socket "agent" that hands each connection, and the frames it receives, to `script`. */
async function scriptedAgent(script: (s: Socket, received: Message[]) => void): Promise<{ path: string; server: Server }> {
  const path = join(dir, `agent${n++}.sock`);
  const server = createServer((s) => {
    const received: Message[] = [];
    const decoder = new FrameDecoder((f) => received.push(parseFrame(f)));
    s.on('data', (d) => decoder.push(d));
    s.on('error', () => undefined);
    script(s, received);
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  return { path, server };
}

const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));
const failsWith = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

async function run(path: string, argv = ['x']): Promise<ExecSession> {
  const s = await execInInstance({ dialer: { target: path, dial: async () => (await import('node:net')).connect(path) } }, { argv });
  s.stdout.resume();
  s.stderr.resume();
  return s;
}

describe('ExecSession against scripted agents', () => {
  it('reports an Exit whose byte counts exceed what arrived as OUTPUT_TRUNCATED', async () => {
    const agent = await scriptedAgent((s) => s.end(Buffer.concat([started(), stdout('abc'), exit(5)])));
    const s = await run(agent.path);
    await assert.rejects(s.exit, (e: unknown) => {
      assert.ok(failsWith('OUTPUT_TRUNCATED')(e));
      assert.match((e as Error).message, /stdout is truncated: the agent sent 5 bytes, 3 arrived/);
      return true;
    });
    await closeServer(agent.server);
  });

  it('reports a connection that ends before Exit as CONNECTION_LOST, after delivering what came', async () => {
    const agent = await scriptedAgent((s) => s.end(Buffer.concat([started(), stdout('partial')])));
    const s = await run(agent.path);
    let out = '';
    s.stdout.on('data', (c: Buffer) => (out += c));
    assert.equal((await s.started).pid, 42);
    await assert.rejects(s.exit, failsWith('CONNECTION_LOST'));
    assert.equal(out, 'partial');
    await closeServer(agent.server);
  });

  it('reports bytes that are not frames as PROTOCOL_ERROR and rejects started too', async () => {
    const agent = await scriptedAgent((s) => s.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const s = await run(agent.path);
    await assert.rejects(s.started, failsWith('PROTOCOL_ERROR'));
    await assert.rejects(s.exit, failsWith('PROTOCOL_ERROR'));
    await closeServer(agent.server);
  });

  it('reports output before Started as PROTOCOL_ERROR (the state machine, spec §3.2)', async () => {
    const agent = await scriptedAgent((s) => s.end(Buffer.concat([stdout('early'), started(), exit(5)])));
    const s = await run(agent.path);
    await assert.rejects(s.exit, failsWith('PROTOCOL_ERROR'));
    await closeServer(agent.server);
  });

  it('answers a Ping with a Pong carrying its token, and sends ExecStart first', async () => {
    const token = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    let got: Message[] = [];
    const agent = await scriptedAgent((s, received) => {
      got = received;
      s.write(Buffer.concat([started(), encodePing(token)]));
      s.on('data', () => {
        if (received.some((m) => m.type === FrameType.Pong)) s.end(exit(0));
      });
    });
    const s = await run(agent.path, ['hello', 'world']);
    await s.exit;
    assert.equal(got[0].type, FrameType.ExecStart);
    assert.deepEqual((got[0] as { argv: string[] }).argv, ['hello', 'world']);
    const pong = got.find((m) => m.type === FrameType.Pong) as { token: Uint8Array };
    assert.deepEqual([...pong.token], [...token]);
    await closeServer(agent.server);
  });

  it('drops a session whose agent stays silent even to a Ping (keepAliveMs): PEER_UNRESPONSIVE', async () => {
    let got: Message[] = [];
    const agent = await scriptedAgent((s, received) => {
      got = received;
      s.write(started());
    });
    const s = await execInInstance({ dialer: { target: agent.path, dial: async () => (await import('node:net')).connect(agent.path) } }, { argv: ['x'], keepAliveMs: 50 });
    s.stdout.resume();
    await assert.rejects(s.exit, failsWith('PEER_UNRESPONSIVE'));
    assert.ok(got.some((m) => m.type === FrameType.Ping));
    await closeServer(agent.server);
  });

  it('carries an UNSUPPORTED_VERSION error with the versions the agent speaks', async () => {
    const agent = await scriptedAgent((s) => s.end(encodeError('UNSUPPORTED_VERSION', 'version 1 is not supported', [3, 2])));
    const s = await run(agent.path);
    await assert.rejects(s.exit, (e: unknown) => {
      assert.ok(failsWith('UNSUPPORTED_VERSION')(e));
      assert.deepEqual((e as { supportedVersions?: number[] }).supportedVersions, [3, 2]);
      return true;
    });
    await closeServer(agent.server);
  });

  it('starts again in version 1 against an agent that speaks only that, stdin sent again, and says so', async () => {
    const versions: number[] = [];
    const agent = await scriptedAgent((s, received) => {
      s.on('data', () => {
        const start = received.find((m) => m.type === FrameType.ExecStart);
        if (!start || start.type !== FrameType.ExecStart) return;
        if (start.version !== 1) {
          versions.push(start.version);
          s.end(encodeError('UNSUPPORTED_VERSION', `version ${start.version} is not supported`, [1]));
        } else if (received.some((m) => m.type === FrameType.StdinClose) && !versions.includes(1)) {
          versions.push(1);
          const input = Buffer.concat(received.flatMap((m) => (m.type === FrameType.Stdin ? [Buffer.from(m.data)] : [])));
          assert.equal(start.lingerSeconds, undefined, 'no linger in version 1');
          s.end(Buffer.concat([started(), encodeDataFrame(FrameType.Stdout, input), exit(input.length)]));
        }
      });
    });
    const s = await execInInstance({ dialer: { target: agent.path, dial: async () => (await import('node:net')).connect(agent.path) } }, { argv: ['cat'], lingerSeconds: 30 });
    const downgraded: unknown[] = [];
    s.on('downgraded', (e) => downgraded.push(e));
    let out = '';
    s.stdout.on('data', (c: Buffer) => (out += c));
    s.stdin.end('sent before the refusal\n');
    await s.exit;
    assert.deepEqual(versions, [2, 1]);
    assert.deepEqual(downgraded, [{ supportedVersions: [1] }]);
    assert.equal(out, 'sent before the refusal\n');
    assert.equal((await s.started).lingerSeconds, 0);
    await closeServer(agent.server);
  });

  it('refuses a request the encoder refuses before connecting (INVALID_REQUEST)', async () => {
    let connections = 0;
    const agent = await scriptedAgent((s) => {
      connections++;
      s.destroy();
    });
    await assert.rejects(run(agent.path, ['a\0b']), failsWith('INVALID_REQUEST'));
    assert.equal(connections, 0);
    await closeServer(agent.server);
  });

  it('refuses an API URL it cannot use (INVALID_URL) and a cancelled connect (ABORTED)', async () => {
    await assert.rejects(execInInstance({ apiUrl: 'not a url', instance: 'x' }, { argv: ['true'] }), failsWith('INVALID_URL'));
    await assert.rejects(execInInstance({ apiUrl: 'ftp://example', instance: 'x' }, { argv: ['true'] }), failsWith('INVALID_URL'));
    await assert.rejects(execInInstance({ apiUrl: 'http://127.0.0.1:1', instance: 'x' }, { argv: ['true'], signal: AbortSignal.abort() }), failsWith('ABORTED'));
  });

  it('refuses unknown signals with INVALID_SIGNAL', async () => {
    const agent = await scriptedAgent((s) => s.write(started()));
    const s = await run(agent.path);
    assert.throws(() => s.signal('SIGNOPE'), failsWith('INVALID_SIGNAL'));
    assert.throws(() => s.signal(65), failsWith('INVALID_SIGNAL'));
    s.abort();
    await assert.rejects(s.exit, failsWith('ABORTED'));
    await closeServer(agent.server);
  });
});

/** A WebSocket "API server" speaking the framed dialect, that hands each connection to `script`. */
async function scriptedApi(script: (ws: WebSocket) => void): Promise<{ url: string; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false) });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', script);
  return { url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, wss };
}

describe('WebSocketFrameTransport against scripted servers', () => {
  it('sends no more Stdin than its credit (spec §8.1.1), then resumes as credit arrives', async () => {
    let stdinBytes = 0;
    let endSession: (bytes: number) => void = () => undefined;
    const serverSide = new Promise<number>((resolve) => (endSession = resolve));
    const api = await scriptedApi((ws) => {
      ws.send(started());
      ws.on('message', (data: Buffer) => {
        const m = parseFrame(decodeSingleFrame(new Uint8Array(data))!);
        if (m.type === FrameType.Stdin) stdinBytes += m.data.length;
        if (m.type === FrameType.StdinClose) {
          ws.send(exit(0));
          ws.close(1000);
          endSession(stdinBytes);
        }
      });
    });
    const s = await execInInstance({ apiUrl: api.url, instance: 'x' }, { argv: ['cat'] });
    s.stdout.resume();
    const total = 6 * 1024 * 1024;
    const written = new Promise<void>((resolve) => s.stdin.end(Buffer.alloc(total, 1), () => resolve()));
    // The initial 4 MiB is all the client may send before credit.
    while (stdinBytes < 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(stdinBytes, 4 * 1024 * 1024);
    for (const ws of api.wss.clients) ws.send(encodeStdinCredit(total - stdinBytes));
    await written;
    assert.equal(await serverSide, total);
    await s.exit;
    await new Promise((r) => api.wss.close(r));
  });

  it('reads a close 4000 + n that came without its Error frame as that error; another close as CONNECTION_LOST', async () => {
    for (const [code, expected] of [[4033, 'SHUTTING_DOWN'], [4999, 'ERROR_999'], [1001, 'CONNECTION_LOST']] as const) {
      const api = await scriptedApi((ws) => {
        ws.send(started());
        ws.close(code, 'going');
      });
      const s = await execInInstance({ apiUrl: api.url, instance: 'x' }, { argv: ['true'] });
      await assert.rejects(s.exit, failsWith(expected), String(code));
      await new Promise((r) => api.wss.close(r));
    }
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
