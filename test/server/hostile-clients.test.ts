// Issue 21: a client with a valid token cannot deny service to anyone else. Each finding of
// the hostile run, through the real server, mux and agent; loops bounded in count and time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  FrameType,
  INITIAL_STDIN_CREDIT,
  decodeSingleFrame,
  encodeDataFrame,
  encodeExecStart,
  encodePing,
  parseFrame,
} from '../../src/wire/index.js';
import { FramedClient, type Stack, execUrl, startStack } from './stack.js';

/** Sends `count` one-byte Stdin frames as fast as credit allows (spec §8.1.1), then StdinClose. */
async function floodStdin(client: FramedClient, count: number): Promise<void> {
  let credit = INITIAL_STDIN_CREDIT;
  let wake: (() => void) | null = null;
  client.ws.on('message', (data: Buffer) => {
    const frame = decodeSingleFrame(new Uint8Array(data));
    if (frame?.type !== FrameType.StdinCredit) return;
    const m = parseFrame(frame);
    if (m.type === FrameType.StdinCredit) credit += m.bytes;
    wake?.();
  });
  const oneByte = encodeDataFrame(FrameType.Stdin, Uint8Array.of(0x61));
  let sent = 0;
  while (sent < count) {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    while (credit > 0 && sent < count) {
      client.ws.send(oneByte);
      credit--;
      sent++;
      // Let ws write now and then, so its own buffer does not hold the whole flood.
      if (sent % 50_000 === 0) break;
    }
    if (client.ws.bufferedAmount > 4 * 1024 * 1024 || credit === 0) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 5);
      });
      wake = null;
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  client.send(Uint8Array.of(0, 0, 0, 0, FrameType.StdinClose));
}

describe('hostile clients (issue 21)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.stop();
  });

  it('a client that honours credit may send 1,000,000 one-byte Stdin frames: all reach the command (credit is counted in payload bytes)', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
    await client.opened();
    client.send(encodeExecStart({ argv: ['wc', '-c'] }));
    await floodStdin(client, 1_000_000);
    const r = await client.done;
    assert.equal(r.closeCode, 1000, `closed with ${r.closeCode} ${r.closeReason}`);
    assert.equal(r.stdout.toString().trim(), '1000000');
  });

  it('Pings piling up behind stdin the command does not read end with FLOW_CONTROL naming control frames, not stdin', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
    await client.opened();
    // sleep never reads its stdin: once pipes and sockets are full, the agent stops reading
    // its connection (spec §9.8), and frames for it wait in the server.
    client.send(encodeExecStart({ argv: ['sleep', '30'] }));
    const chunk = encodeDataFrame(FrameType.Stdin, new Uint8Array(64 * 1024));
    for (let i = 0; i < 48; i++) client.send(chunk);
    const ping = encodePing(new Uint8Array(8));
    for (let i = 0; i < 100_000 && client.ws.readyState === WebSocket.OPEN; i++) {
      client.ws.send(ping);
      if (i % 5_000 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const r = await client.done;
    assert.equal(r.closeCode, 4006, `closed with ${r.closeCode} ${r.closeReason}`);
    const error = r.messages.find((m) => m.type === FrameType.Error);
    assert.ok(error && error.type === FrameType.Error && /control frames/.test(error.message), JSON.stringify(error));
  });
});

