// Garbage fuzzer for the frame decoder and the payload parser (spec §3.1): random inputs,
// biased toward valid headers so that parsing goes deep, fed in random chunk sizes.
// The only acceptable outcomes are frames or a ProtocolError.
import {
  FIXED_PAYLOAD_SIZE,
  FRAME_TYPE_NAMES,
  FrameDecoder,
  HEADER_SIZE,
  ProtocolError,
  parseFrame,
} from '../../src/wire/index.js';

/** Small, seedable PRNG (xorshift32) so a failing input can be replayed from its seed. */
export class Random {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

const knownTypes = Object.keys(FRAME_TYPE_NAMES).map(Number);

function header(r: Random, maxPayload: number): Uint8Array {
  const h = new Uint8Array(HEADER_SIZE);
  const pick = r.below(10);
  const type = pick < 7 ? knownTypes[r.below(knownTypes.length)] : r.below(256);
  const fixed = FIXED_PAYLOAD_SIZE[type];
  let length: number;
  if (pick < 4 && fixed !== undefined) length = fixed;
  else if (pick < 8) length = r.below(64);
  else if (pick === 8) length = maxPayload + r.below(3) - 1;
  else length = r.next();
  new DataView(h.buffer).setUint32(0, length >>> 0);
  h[4] = type;
  return h;
}

/** One random input: valid-looking headers followed by random (often too short) payloads. */
export function randomInput(r: Random, maxPayload: number): Uint8Array {
  const parts: number[] = [];
  const frames = 1 + r.below(4);
  for (let f = 0; f < frames; f++) {
    if (r.below(8) > 0) parts.push(...header(r, maxPayload));
    const n = r.below(48);
    for (let i = 0; i < n; i++) parts.push(r.below(4) === 0 ? r.below(4) : r.below(256));
  }
  return Uint8Array.from(parts);
}

export interface FuzzResult {
  inputs: number;
  frames: number;
  protocolErrors: number;
}

/**
 * Runs `inputs` random inputs. Throws (with the seed and the input) on anything but frames
 * and ProtocolErrors, or if the decoder ever holds more than a header plus `maxPayload`.
 */
export function fuzzDecoder(seed: number, inputs: number, maxPayload = 256): FuzzResult {
  const r = new Random(seed);
  const result: FuzzResult = { inputs, frames: 0, protocolErrors: 0 };
  for (let i = 0; i < inputs; i++) {
    const input = randomInput(r, maxPayload);
    const decoder = new FrameDecoder(
      (frame) => {
        result.frames++;
        parseFrame(frame);
      },
      { maxPayload },
    );
    try {
      for (let at = 0; at < input.length; ) {
        const n = 1 + r.below(16);
        decoder.push(input.subarray(at, at + n));
        at += n;
        if (decoder.buffered > HEADER_SIZE + maxPayload) {
          throw new Error(`decoder holds ${decoder.buffered} bytes, over the limit`);
        }
      }
      decoder.end();
    } catch (err) {
      if (err instanceof ProtocolError) {
        result.protocolErrors++;
        continue;
      }
      const hex = Buffer.from(input).toString('hex');
      throw new Error(`seed ${seed}, input #${i} (${hex}): ${(err as Error).stack ?? err}`);
    }
  }
  return result;
}
