// The API server end to end: real WebSocket clients (ws) → ApiServer (uWebSockets.js) →
// HybridVsockMux → the real agent → real processes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { signDevelopmentToken } from '../../src/host/server/TokenSigner.js';
import {
  ExitKind,
  FrameType,
  encodeDataFrame,
  encodeExecStart,
  encodeStdinClose,
  type ExitMessage,
} from '../../src/wire/index.js';
import { FramedClient, SECRET, type Stack, execUrl, startStack, upgradeRefusal } from './stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

const exitOf = (messages: { type: number }[]) => messages.find((m) => m.type === FrameType.Exit) as ExitMessage | undefined;

describe('errors before the upgrade (spec §8.3)', () => {
  it('400 for bad parameters, and for a GET without an upgrade', async () => {
    const r = await upgradeRefusal(execUrl(stack.url, 'web', [['tty', 'maybe']]), { token: stack.token });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'INVALID_REQUEST');
    assert.match(r.body.message, /tty must be true or false/);
    const res = await fetch(execUrl(stack.url.replace('ws:', 'http:'), 'web'));
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'INVALID_REQUEST');
  });

  it('401 without a token, with a bad token, and with an expired token', async () => {
    for (const token of [undefined, 'garbage', await signDevelopmentToken(SECRET, { sub: 'x' }, -10)]) {
      const r = await upgradeRefusal(execUrl(stack.url, 'web', [['command', 'true']]), { token });
      assert.equal(r.status, 401, String(token));
      assert.equal(r.body.code, 'UNAUTHORIZED');
    }
  });

  it('accepts the token as a bearer.<token> subprotocol and never echoes it', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web', [['command', 'true']]), { protocols: ['hypeman-exec.v1', `bearer.${stack.token}`] });
    await client.opened();
    assert.equal(client.ws.protocol, 'hypeman-exec.v1');
    const result = await client.done;
    assert.equal(exitOf(result.messages)?.code, 0);
  });

  it('403 for an origin that is not allowed; the server\'s own origin passes', async () => {
    const host = new URL(stack.url).host;
    const r = await upgradeRefusal(execUrl(stack.url, 'web', [['command', 'true']]), { token: stack.token, headers: { origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'FORBIDDEN_ORIGIN');
    const ok = new FramedClient(execUrl(stack.url, 'web', [['command', 'true']]), { token: stack.token, headers: { origin: `http://${host}` } });
    assert.equal(exitOf((await ok.done).messages)?.code, 0);
  });

  it('403 when the token does not cover the instance, by id or by name', async () => {
    const token = await signDevelopmentToken(SECRET, { sub: 'db-admin', instances: ['db'] });
    for (const target of ['web', 'web-id', 'no-such-instance']) {
      const r = await upgradeRefusal(execUrl(stack.url, target, [['command', 'true']]), { token });
      assert.equal(r.status, 403, target);
      assert.equal(r.body.code, 'FORBIDDEN_INSTANCE');
    }
  });

  it('404 for an unknown instance, 400 for a hostile id', async () => {
    const r = await upgradeRefusal(execUrl(stack.url, 'nope', [['command', 'true']]), { token: stack.token });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'INSTANCE_NOT_FOUND');
    const bad = await upgradeRefusal(`${stack.url}/instances/..%2Fx/exec?command=true`, { token: stack.token });
    assert.equal(bad.status, 400);
  });

  it('409 for an instance that is not running', async () => {
    const r = await upgradeRefusal(execUrl(stack.url, 'old', [['command', 'true']]), { token: stack.token });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, 'INSTANCE_NOT_RUNNING');
  });
});

describe('framed dialect (spec §8.1)', () => {
  it('runs a command from the query with stdout and stderr apart, then closes 1000', async () => {
    const client = new FramedClient(
      execUrl(stack.url, 'web', [['command', 'sh'], ['command', '-c'], ['command', 'echo out; echo err >&2; echo more; exit 7']]),
      { token: stack.token },
    );
    const r = await client.done;
    assert.equal(r.stdout.toString(), 'out\nmore\n');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.equal(r.messages[0].type, FrameType.Started);
    const exit = exitOf(r.messages)!;
    assert.deepEqual([exit.kind, exit.code, exit.stdoutBytes, exit.stderrBytes], [ExitKind.Exited, 7, 9, 4]);
    assert.equal(r.closeCode, 1000);
  });

  it('takes ExecStart as the first frame, stdin frames and StdinClose', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
    await client.opened();
    client.send(encodeExecStart({ argv: ['cat'] }));
    client.send(encodeDataFrame(FrameType.Stdin, Buffer.from('hello ')));
    client.send(encodeDataFrame(FrameType.Stdin, Buffer.from('world')));
    client.send(encodeStdinClose());
    const r = await client.done;
    assert.equal(r.stdout.toString(), 'hello world');
    assert.equal(exitOf(r.messages)?.code, 0);
    assert.ok(r.messages.some((m) => m.type === FrameType.StdinCredit), 'the server grants stdin credit');
  });

  it('refuses ExecStart when the request came in the query', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web', [['command', 'cat']]), { token: stack.token });
    await client.opened();
    client.send(encodeExecStart({ argv: ['true'] }));
    const r = await client.done;
    const err = r.messages.find((m) => m.type === FrameType.Error);
    assert.equal(err && 'code' in err ? err.code : undefined, 'UNEXPECTED_FRAME');
    assert.equal(r.closeCode, 4004);
  });

  it('answers a frame over the limit with FRAME_TOO_LARGE and close 4002', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web', [['command', 'cat']]), { token: stack.token });
    await client.opened();
    client.send(encodeDataFrame(FrameType.Stdin, new Uint8Array(1024 * 1024 + 1), 2 ** 21));
    const r = await client.done;
    assert.equal(r.closeCode, 4002);
    assert.equal(r.closeReason, 'FRAME_TOO_LARGE');
  });

  it('answers garbage with MALFORMED_FRAME and a text message likewise', async () => {
    const a = new FramedClient(execUrl(stack.url, 'web', [['command', 'cat']]), { token: stack.token });
    await a.opened();
    a.ws.send(Buffer.from([0, 0, 0, 9, 2, 1]), { binary: true });
    assert.equal((await a.done).closeCode, 4001);
    const b = new FramedClient(execUrl(stack.url, 'web', [['command', 'cat']]), { token: stack.token });
    await b.opened();
    b.ws.send('hello');
    assert.equal((await b.done).closeCode, 4001);
  });

  it('reports AGENT_UNREACHABLE (close 4048) when nothing answers the vsock socket', async () => {
    const client = new FramedClient(execUrl(stack.url, 'db', [['command', 'true']]), { token: stack.token });
    const r = await client.done;
    const err = r.messages.find((m) => m.type === FrameType.Error);
    assert.equal(err && 'code' in err ? err.code : undefined, 'AGENT_UNREACHABLE');
    assert.equal(r.closeCode, 4048);
  });

  it('reports INSTANCE_NOT_RUNNING (close 4049) when the instance stops while the server waits for its agent', async () => {
    const client = new FramedClient(execUrl(stack.url, 'db', [['command', 'true'], ['wait_for_agent', '2']]), { token: stack.token });
    await client.opened();
    const record = await stack.registry.get('db-id');
    await stack.registry.put({ ...record, state: 'stopped' });
    try {
      const r = await client.done;
      const err = r.messages.find((m) => m.type === FrameType.Error);
      assert.equal(err && 'code' in err ? err.code : undefined, 'INSTANCE_NOT_RUNNING');
      assert.match(err && 'message' in err ? err.message : '', /db-id is stopped, not running/);
      assert.equal(r.closeCode, 4049);
    } finally {
      await stack.registry.put({ ...record, state: 'running' });
    }
  });
});

describe('compatible dialect (spec §8.2)', () => {
  function compat(url: string, first?: string, protocols?: string[]): Promise<{ binary: Buffer; texts: string[]; code: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols ?? [], { headers: { authorization: `Bearer ${stack.token}` } });
      const chunks: Buffer[] = [];
      const texts: string[] = [];
      ws.on('open', () => first !== undefined && ws.send(first));
      ws.on('message', (data: Buffer, isBinary) => (isBinary ? chunks.push(Buffer.from(data)) : texts.push(data.toString())));
      ws.on('close', (code) => resolve({ binary: Buffer.concat(chunks), texts, code }));
      ws.on('error', reject);
    });
  }

  it('runs the JSON request of an original client and ends with {"exitCode":N}', async () => {
    const r = await compat(execUrl(stack.url, 'web'), JSON.stringify({ command: ['sh', '-c', 'echo hi; echo oops >&2; exit 3'], tty: false, env: { X: '1' } }));
    assert.equal(r.binary.toString().split('\n').sort().join('\n'), ['', 'hi', 'oops'].join('\n'));
    assert.deepEqual(r.texts, ['{"exitCode":3}']);
    assert.equal(r.code, 1000);
  });

  it('runs a request from the query, and hypeman-exec.json selects the dialect for browsers', async () => {
    const r = await compat(execUrl(stack.url, 'web', [['command', 'echo'], ['command', 'query']]));
    assert.equal(r.binary.toString(), 'query\n');
    const b = await compat(execUrl(stack.url, 'web', [['command', 'echo'], ['command', 'json']]), undefined, ['hypeman-exec.json']);
    assert.equal(b.binary.toString(), 'json\n');
    assert.deepEqual(b.texts, ['{"exitCode":0}']);
  });

  it('reports a failure as a JSON text message and close 4000+code', async () => {
    const r = await compat(execUrl(stack.url, 'web'), JSON.stringify({ command: ['true'], cwd: '/no/such/dir' }));
    assert.equal(JSON.parse(r.texts[0]).code, 'CWD_NOT_FOUND');
    assert.equal(r.code, 4017);
  });
});
