// Loads spec/vectors.json and converts between its JSON meanings and wire messages.
import { readFileSync } from 'node:fs';
import { ExitKind, FrameType, type Message } from '../../src/wire/index.js';

export interface RepeatedBytes {
  byte: string;
  count: number;
}
export interface Vector {
  name: string;
  description: string;
  hex: string;
  append?: RepeatedBytes;
  frames?: Array<Record<string, unknown>>;
  error?: string;
  canonical: boolean;
}

export const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('../../spec/vectors.json', import.meta.url), 'utf8'),
).vectors;

export function vectorBytes(v: Vector): Uint8Array {
  const head = Buffer.from(v.hex, 'hex');
  if (!v.append) return new Uint8Array(head);
  const out = new Uint8Array(head.length + v.append.count);
  out.set(head, 0);
  out.fill(parseInt(v.append.byte, 16), head.length);
  return out;
}

function dataOf(value: unknown): Uint8Array {
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'hex'));
  const r = value as RepeatedBytes;
  return new Uint8Array(r.count).fill(parseInt(r.byte, 16));
}

const exitKinds: Record<string, number> = {
  exited: ExitKind.Exited,
  signaled: ExitKind.Signaled,
  timed_out: ExitKind.TimedOut,
};

/** Members that are bytes (hex in the vectors): data, tokens, ids, and the copy frames' paths and digests. */
const BYTE_MEMBERS = ['path', 'link', 'name', 'sha256'] as const;

/** The message a vector's JSON meaning stands for. */
export function messageOf(m: Record<string, unknown>): Message {
  const type = FrameType[m.type as keyof typeof FrameType];
  const bytes = Object.fromEntries(BYTE_MEMBERS.filter((k) => k in m).map((k) => [k, dataOf(m[k])]));
  switch (type) {
    case FrameType.Stdin:
    case FrameType.Stdout:
    case FrameType.Stderr:
    case FrameType.UploadData:
    case FrameType.DownloadData:
      return { type, data: dataOf(m.data) };
    case FrameType.Exit:
      return { ...(m as object), type, kind: exitKinds[m.kind as string] } as Message;
    case FrameType.Started:
    case FrameType.Resumed:
      return { ...(m as object), type, sessionId: dataOf(m.sessionId) } as Message;
    case FrameType.Ping:
    case FrameType.Pong:
      return { type, token: dataOf(m.token) };
    case FrameType.ExecStart: {
      const resume = m.resume as Record<string, unknown> | undefined;
      return {
        ...(m as object),
        type,
        env: Object.assign(Object.create(null), m.env),
        ...(resume ? { resume: { ...resume, sessionId: dataOf(resume.sessionId) } } : {}),
      } as Message;
    }
    default:
      return { ...(m as object), ...bytes, type } as Message;
  }
}

/** Plain, comparable form of a decoded message (typed arrays as Buffers, null-prototype maps as objects). */
export function plain(msg: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) {
    if (v instanceof Uint8Array) out[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    else if (k === 'env' || k === 'window') out[k] = { ...(v as object) };
    else if (k === 'resume') out[k] = plain(v as unknown as Message);
    else out[k] = v;
  }
  return out;
}
