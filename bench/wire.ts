// npm run bench:wire — encode+decode throughput of the frame codec, beside a plain Buffer
// copy of the same bytes measured in the same run (the floor).
import { FrameDecoder, FrameType, encodeDataFrame, encodeHeader, parseFrame } from '../src/wire/index.js';

const SOCKET_READ = 64 * 1024;

function time(fn: () => void, minMs = 1500): number {
  fn();
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs * 1e6) {
    fn();
    runs++;
    elapsed = Number(process.hrtime.bigint() - start);
  }
  return elapsed / runs / 1e9;
}

/** Cuts `stream` into socket-sized reads, as a Node socket would deliver it. */
function reads(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += SOCKET_READ) out.push(stream.subarray(i, i + SOCKET_READ));
  return out;
}

function stdoutFrames(): void {
  const payload = Buffer.alloc(64 * 1024, 0x61);
  const count = 1024; // 64 MiB
  const total = count * payload.length;
  const stream = Buffer.concat(Array.from({ length: count }, () => [Buffer.from(encodeHeader(FrameType.Stdout, payload.length)), payload]).flat());
  const chunks = reads(stream);

  const codec = time(() => {
    // Encode as the agent does (header only; the payload goes out by writev, uncopied)…
    for (let i = 0; i < count; i++) encodeHeader(FrameType.Stdout, payload.length);
    // …and decode the byte stream as it arrives in socket-sized reads.
    let got = 0;
    const d = new FrameDecoder((f) => {
      const m = parseFrame(f);
      if (m.type === FrameType.Stdout) got += m.data.length;
    });
    for (const c of chunks) d.push(c);
    if (got !== total) throw new Error('lost bytes');
  });
  const target = Buffer.allocUnsafe(stream.length);
  const floor = time(() => {
    for (const c of chunks) c.copy(target, c.byteOffset - stream.byteOffset);
  });
  report('64 KiB Stdout frames', stream.length, total, count, codec, floor);
}

function stdinBytes(): void {
  const count = 1_000_000;
  const frame = encodeDataFrame(FrameType.Stdin, Uint8Array.of(0x61));
  const stream = Buffer.concat(Array.from({ length: count }, () => frame));
  const chunks = reads(stream);
  const byte = Uint8Array.of(0x61);
  const codec = time(() => {
    for (let i = 0; i < count; i++) encodeDataFrame(FrameType.Stdin, byte);
    let got = 0;
    const d = new FrameDecoder((f) => {
      const m = parseFrame(f);
      if (m.type === FrameType.Stdin) got += m.data.length;
    });
    for (const c of chunks) d.push(c);
    if (got !== count) throw new Error('lost bytes');
  });
  const target = Buffer.allocUnsafe(stream.length);
  const floor = time(() => {
    for (const c of chunks) c.copy(target, c.byteOffset - stream.byteOffset);
  });
  report('1-byte Stdin frames', stream.length, count, count, codec, floor);
}

function report(name: string, wireBytes: number, payloadBytes: number, frames: number, codecSeconds: number, floorSeconds: number): void {
  const mbps = (b: number, s: number) => (b / s / 1e6).toFixed(0).padStart(6);
  console.log(
    `${name.padEnd(21)} encode+decode: ${mbps(wireBytes, codecSeconds)} MB/s on the wire, ${mbps(payloadBytes, codecSeconds)} MB/s payload, ` +
      `${(frames / codecSeconds / 1e6).toFixed(2)} M frames/s | floor, Buffer copy of the same stream: ${mbps(wireBytes, floorSeconds)} MB/s`,
  );
}

stdoutFrames();
stdinBytes();
