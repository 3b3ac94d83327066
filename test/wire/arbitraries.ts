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

/** Version 2 requests: what version 1 carries, and linger, overflow and owner when not at their defaults (§10). */
const durableExecStart = fc
  .record({
    base: execStart,
    lingerSeconds: fc.integer({ min: 1, max: 0xffffffff }),
    overflow: fc.option(fc.constant('drop' as const), { nil: undefined }),
    owner: fc.option(text(30).filter((o) => o !== ''), { nil: undefined }),
  })
  .map(({ base, lingerSeconds, overflow, owner }): Message => {
    const m = { ...base, version: 2, lingerSeconds } as Message & Record<string, unknown>;
    if (overflow) m.overflow = overflow;
    if (owner) m.owner = owner;
    return m;
  });

const resume = fc
  .record({
    sessionId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    stdoutBytes: fc.maxSafeNat(),
    stderrBytes: fc.maxSafeNat(),
    owner: fc.option(text(30).filter((o) => o !== ''), { nil: undefined }),
    attach: fc.option(
      fc.oneof(
        fc.record({ mode: fc.constantFrom('write' as const, 'take-over' as const), live: fc.constant(false), anyOwner: fc.constant(false) }),
        fc.record({ mode: fc.constant('observe' as const), live: fc.boolean(), anyOwner: fc.boolean() }),
      ).map((a) => ({ ...a })), // an ordinary object, as the parser makes
      { nil: undefined },
    ),
  })
  .map(({ owner, attach, ...r }): Message => {
    const m: Message = { type: FrameType.ExecStart, version: 2, argv: [], env: Object.create(null), cwd: '', user: '', tty: false, timeoutSeconds: 0, resume: attach ? { ...r, attach } : r };
    if (owner) m.owner = owner;
    return m;
  });

const summary = fc.record(
  {
    id: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    pid: fc.nat(),
    argv: fc.array(text(), { maxLength: 4 }),
    owner: text(20),
    tty: fc.boolean(),
    startedAt: fc.maxSafeNat(),
    state: fc.constantFrom('attached' as const, 'detached' as const, 'exited' as const),
    lingerSeconds: fc.nat(),
    exitCode: fc.integer({ min: 0, max: 255 }),
    detachedAt: fc.maxSafeNat(),
    observers: fc.nat(),
  },
  { requiredKeys: ['id', 'pid', 'argv', 'owner', 'tty', 'startedAt', 'state', 'lingerSeconds'] },
).map((s) => ({ ...s })); // an ordinary object, as JSON.parse makes

const durable: fc.Arbitrary<Message>[] = [
  durableExecStart,
  resume,
  fc.record({ stdoutBytes: fc.maxSafeNat(), stderrBytes: fc.maxSafeNat() }).map((r): Message => ({ type: FrameType.OutputAck, ...r })),
  text(30).map((owner): Message => ({ type: FrameType.ListSessions, version: 2, owner })),
  fc.record({ seconds: fc.nat({ max: 0xffffffff }), windowBytes: fc.nat({ max: 0xffffffff }) }).map((r): Message => ({ type: FrameType.Linger, ...r })),
  fc
    .record({
      pid: fc.nat({ max: 0xffffffff }),
      sessionId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      stdinBytes: fc.maxSafeNat(),
      stdoutLost: fc.maxSafeNat(),
      stderrLost: fc.maxSafeNat(),
      lingerSeconds: fc.nat({ max: 0xffffffff }),
      windowBytes: fc.nat({ max: 0xffffffff }),
      stdinClosed: fc.boolean(),
      exited: fc.boolean(),
      tty: fc.boolean(),
      observer: fc.boolean(),
    })
    .map((r): Message => ({ type: FrameType.Resumed, version: 2, ...r })),
  fc
    .record({ kind: fc.constantFrom('read-only' as const, 'observing' as const, 'NOTICE_9' as const), message: text(100) })
    .map((r): Message => ({ type: FrameType.Notice, ...r })),
  fc.maxSafeNat().map((bytes): Message => ({ type: FrameType.StdinAck, bytes })),
  fc.array(summary, { maxLength: 4 }).map((sessions): Message => ({ type: FrameType.SessionList, sessions })),
];

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
      wireCode: fc.constantFrom(1, 2, 3, 4, 16, 17, 18, 19, 20, 21, 22, 30, 32, 33, 34, 35, 40, 48, 49),
      message: text(200),
    })
    .map((r): Message => ({ type: FrameType.Error, code: 'INTERNAL_ERROR', ...r })),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((token): Message => ({ type: FrameType.Ping, token })),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((token): Message => ({ type: FrameType.Pong, token })),
  fc.integer({ min: 0, max: 0xffffffff }).map((bytes): Message => ({ type: FrameType.StdinCredit, bytes })),
  ...durable,
);
