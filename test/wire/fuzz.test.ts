// 100,000 random inputs per run: the decoder yields frames or a typed protocol error,
// never anything else, never hangs, never holds more than the limit.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fuzzDecoder } from './fuzzer.js';

it('survives 100,000 garbage inputs with only frames or ProtocolErrors', () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 0xffffffff);
  const result = fuzzDecoder(seed, 100_000);
  assert.equal(result.inputs, 100_000);
  // The bias toward valid headers must make both outcomes common, or the fuzzer is shallow.
  assert.ok(result.frames > 10_000, `only ${result.frames} frames decoded (seed ${seed})`);
  assert.ok(result.protocolErrors > 10_000, `only ${result.protocolErrors} errors (seed ${seed})`);
});
