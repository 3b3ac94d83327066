// The CONNECT command as Cloud Hypervisor's muxer parses it, byte by byte: the parser
// alone (the muxer's own test table), then the simulated hypervisor socket on the wire.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { INVALID, NEED_MORE, parseConnectCommand } from '../../src/host/local/ConnectCommand.js';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';

const dir = mkdtempSync(join(tmpdir(), 'hypeman-connect-'));
let n = 0;
const socketPath = () => join(dir, `s${n++}.sock`);
const bytes = (s: string) => new TextEncoder().encode(s);

describe('parseConnectCommand (Cloud Hypervisor muxer rules)', () => {
  // The muxer's own test table (muxer.rs test_parse_command), then the edges around it.
  const table: Array<[string, number]> = [
    ['', NEED_MORE],
    ['\n', INVALID],
    ['CONN\n', INVALID],
    ['FOO ', NEED_MORE],
    ['FOOFOOX ', INVALID],
    ['CONNECT ', NEED_MORE],
    ['connect ', NEED_MORE],
    ['connect \n', INVALID],
    ['connect 1337', NEED_MORE],
    ['connect -1337\n', INVALID],
    ['connect 8589934592\n', INVALID],
    ['CONNECT 👾\n', INVALID],
    ['CONNECT                        1', INVALID],
    ['connect 0\n', 0],
    ['connect 1337\n', 1337],
    ['CONNECT 1337\n', 1337],
    ['CONNECT  1337\n', 1337],
    ['CONNECT 1337 \n', 1337],
    ['CONNECT  1337 \n', 1337],
    ['Connect 2222\n', INVALID],
    ['CONNECT\t2222\n', INVALID],
    [' CONNECT 2222\n', INVALID],
    ['CONNECT 2222 7\n', INVALID],
    ['CONNECT 2222\r\n', 2222],
    ['CONNECT +2222\n', 2222],
    ['CONNECT +\n', INVALID],
    ['CONNECT 0002222\n', 2222],
    ['CONNECT 4294967295\n', 4294967295],
    ['CONNECT 4294967296\n', INVALID],
    ['CONNECT 2222\u0085\n', 2222],
    ['CONNECT \ufeff2222\n', INVALID],
    [`CONNECT ${' '.repeat(18)}2222\n`, 2222],
    [`CONNECT ${' '.repeat(19)}2222\n`, INVALID],
  ];
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input)} → ${expected === NEED_MORE ? 'read on' : expected === INVALID ? 'refuse' : expected}`, () => {
      assert.equal(parseConnectCommand(bytes(input)), expected);
    });
  }

  it('refuses invalid UTF-8 between the keyword and the newline', () => {
    assert.equal(parseConnectCommand(Uint8Array.from([...bytes('CONNECT 22'), 0xff, 0x0a])), INVALID);
  });
});

describe('HybridVsockMux on the wire', () => {
  async function echoGuest(): Promise<{ path: string; server: Server }> {
    const path = socketPath();
    const server = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(path, () => r()));
    return { path, server };
  }
  const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));

  /** Writes `parts` one by one (each its own packet), collects everything until the mux closes. */
  function converse(path: string, parts: Array<string | Buffer>, expect = Infinity): Promise<{ data: string; socket: Socket }> {
    return new Promise((resolve) => {
      const c = connect({ path, allowHalfOpen: true });
      let data = '';
      c.on('connect', async () => {
        for (const p of parts) {
          c.write(p);
          await new Promise((r) => setTimeout(r, 5));
        }
      });
      c.on('data', (d) => {
        data += d.toString('latin1');
        if (data.length >= expect) c.end();
      });
      c.on('end', () => c.end());
      c.on('close', () => resolve({ data, socket: c }));
      c.on('error', () => undefined);
    });
  }

  it('accepts a command sent one byte per packet, and answers OK <port> with ports from 2^30 up', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path } });
    await mux.listen();
    const first = await converse(mux.socketPath, [...'CONNECT 2222\n', 'ping'], 18);
    assert.equal(first.data, 'OK 1073741824\nping');
    const second = await converse(mux.socketPath, ['connect 2222\r\nx'], 15);
    assert.equal(second.data, 'OK 1073741825\nx');
    await mux.close();
    await closeServer(guest.server);
  });

  it('closes without a byte of answer: refused commands, a port nobody listens on, end of stream mid-command', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path, 7: join(dir, 'nobody.sock') } });
    await mux.listen();
    const refused = ['CONNECT 1234\n', 'CONNECT 7\n', 'HELLO 2222\n', 'Connect 2222\n', 'CONNECT abc\n', `CONNECT ${'2'.repeat(40)}\n`, 'CONNECT 2222 junk\n'];
    for (const line of refused) assert.equal((await converse(mux.socketPath, [line])).data, '', line);
    // The keyword is judged at the 8th byte: no waiting for a newline that never comes.
    assert.equal((await converse(mux.socketPath, ['GET / HTTP/1.1'])).data, '');
    const halfDone = connect({ path: mux.socketPath, allowHalfOpen: true });
    halfDone.on('connect', () => halfDone.end('CONNECT 22'));
    halfDone.resume();
    await new Promise((r) => halfDone.on('close', r));
    await mux.close();
    await closeServer(guest.server);
  });

  it('holds at most maxConnections, then closes new ones without an answer', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path }, maxConnections: 2 });
    await mux.listen();
    const open = async () => {
      const c = connect(mux.socketPath);
      c.write('CONNECT 2222\n');
      await new Promise((r) => c.once('data', r));
      return c;
    };
    const held = [await open(), await open()];
    assert.equal(mux.connections, 2);
    assert.equal((await converse(mux.socketPath, ['CONNECT 2222\n'])).data, '');
    held[0].destroy();
    while (mux.connections > 1) await new Promise((r) => setTimeout(r, 5));
    const again = await converse(mux.socketPath, ['CONNECT 2222\nz'], 15);
    assert.match(again.data, /^OK \d+\nz$/);
    held[1].destroy();
    await mux.close();
    await closeServer(guest.server);
  });

  it('passes a half-close on: the guest still answers after the client shut down its write side', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path } });
    await mux.listen();
    const c = connect({ path: mux.socketPath, allowHalfOpen: true });
    c.on('connect', () => c.end('CONNECT 2222\nlast words'));
    let data = '';
    c.on('data', (d) => (data += d));
    await new Promise((r) => c.on('end', r));
    assert.match(data, /^OK \d+\nlast words$/);
    c.destroy();
    await mux.close();
    await closeServer(guest.server);
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
