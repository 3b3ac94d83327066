// fast-check generators for every message type of the wire protocol.
import fc from 'fast-check';
import { ExitKind, FrameType, MAX_SIGNAL, type Message } from '../../src/wire/index.js';

const text = (maxLength = 40) =>
  fc.string({ unit: 'binary', maxLength }).filter((s) => !s.includes('\0'));
const envName = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('=') && !s.includes('\0'));
const bytes = (maxLength = 512) => fc.uint8Array({ maxLength });
const window = fc.record({ rows: fc.integer({ min: 1, max: 0xffff }), cols: fc.integer({ min: 1, max: 0xffff }) });

const execStart = fc
  .record({
    argv: fc.array(text(), { maxLength: 8 }),
    env: fc.dictionary(envName, text(), { maxKeys: 8 }),
    cwd: text(),
    user: text(16),
    tty: fc.boolean(),
    timeoutSeconds: fc.integer({ min: 0, max: 0xffffffff }),
    window: fc.option(window, { nil: undefined }),
  })
  .map((r): Message => {
    const env: Record<string, string> = Object.create(null);
    Object.assign(env, r.env);
    const m: Message = { type: FrameType.ExecStart, version: 1, ...r, env };
    if (r.window === undefined) delete (m as { window?: unknown }).window;
    return m;
  });

const exit = fc
  .oneof(
    fc.record({ kind: fc.constant(ExitKind.Exited), code: fc.integer({ min: 0, max: 255 }), signal: fc.constant(0) }),
    fc.integer({ min: 1, max: MAX_SIGNAL }).map((s) => ({ kind: ExitKind.Signaled, code: (128 + s) & 0xff, signal: s })),
    fc.integer({ min: 0, max: MAX_SIGNAL }).map((s) => ({ kind: ExitKind.TimedOut, code: 124, signal: s })),
  )
  .chain((base) =>
    fc.record({
      coreDumped: fc.boolean(),
      stdoutBytes: fc.maxSafeNat(),
      stderrBytes: fc.maxSafeNat(),
    }).map((rest): Message => ({ type: FrameType.Exit, ...base, ...rest })),
  );

export const message: fc.Arbitrary<Message> = fc.oneof(
  execStart,
  bytes().map((data): Message => ({ type: FrameType.Stdin, data })),
  bytes().map((data): Message => ({ type: FrameType.Stdout, data })),
  bytes().map((data): Message => ({ type: FrameType.Stderr, data })),
  fc.constant<Message>({ type: FrameType.StdinClose }),
  window.map((w): Message => ({ type: FrameType.WindowSize, ...w })),
  fc.integer({ min: 1, max: MAX_SIGNAL }).map((signal): Message => ({ type: FrameType.Signal, signal })),
  fc
    .record({ pid: fc.integer({ min: 0, max: 0xffffffff }), sessionId: fc.uint8Array({ minLength: 16, maxLength: 16 }) })
    .map((r): Message => ({ type: FrameType.Started, version: 1, ...r })),
  exit,
  fc
    .record({
      wireCode: fc.constantFrom(1, 2, 3, 4, 16, 17, 18, 19, 32, 33, 34, 35, 48, 49),
      message: text(200),
    })
    .map((r): Message => ({ type: FrameType.Error, code: 'INTERNAL_ERROR', ...r })),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((token): Message => ({ type: FrameType.Ping, token })),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((token): Message => ({ type: FrameType.Pong, token })),
  fc.integer({ min: 0, max: 0xffffffff }).map((bytes): Message => ({ type: FrameType.StdinCredit, bytes })),
);
