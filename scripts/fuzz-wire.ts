// npm run fuzz [-- --seconds N] [--seed S]: the wire fuzzer for longer than CI runs it.
import { fuzzDecoder } from '../test/wire/fuzzer.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const seconds = opt('--seconds', 60);
let seed = opt('--seed', Date.now() % 0xffffffff);
const deadline = Date.now() + seconds * 1000;
let inputs = 0;
let frames = 0;
let errors = 0;
while (Date.now() < deadline) {
  const r = fuzzDecoder(seed, 50_000);
  inputs += r.inputs;
  frames += r.frames;
  errors += r.protocolErrors;
  seed = (seed * 1103515245 + 12345) >>> 0;
}
console.log(`fuzzed ${inputs} inputs in ${seconds}s: ${frames} frames, ${errors} protocol errors, no other failure`);
