// The copy operations' state machine (spec §12.2, §12.7): one rule per test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CopySessionState,
  EntryKind,
  FrameType,
  MalformedFrameError,
  type Message,
  UnexpectedFrameError,
  encodeEntry,
  decodeAll,
  parseFrame,
} from '../../src/wire/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const none = new Uint8Array(0);
const digest = new Uint8Array(32);

function entry(type: typeof FrameType.UploadEntry | typeof FrameType.DownloadEntry, kind: number, path: string, size: number | null = 0): Message {
  const m = { kind: kind as EntryKind, mode: 0o644, uid: 0, gid: 0, mtimeSeconds: 0, mtimeNanoseconds: 0, size, major: 0, minor: 0, path: bytes(path), link: kind === EntryKind.Symlink ? bytes('t') : none };
  // Through the codec, so that every message here is one a peer could send.
  return parseFrame(decodeAll(encodeEntry(type, m))[0]);
}
const up = (kind: number, path: string, size: number | null = 0) => entry(FrameType.UploadEntry, kind, path, size);
const down = (kind: number, path: string, size: number | null = 0) => entry(FrameType.DownloadEntry, kind, path, size);
const data = (type: typeof FrameType.UploadData | typeof FrameType.DownloadData, n: number): Message => ({ type, data: new Uint8Array(n) });
const end = (type: typeof FrameType.UploadEnd | typeof FrameType.DownloadEnd | typeof FrameType.CopyResult, entries: number, count: number): Message => ({ type, entries, bytes: count });
const copyTo: Message = { type: FrameType.CopyTo, version: 1, path: bytes('/x'), name: none, owners: false, parents: false };
const copyFrom: Message = { type: FrameType.CopyFrom, version: 1, path: bytes('/x'), follow: false, hardlinks: false, totals: false };
const stat: Message = { type: FrameType.Stat, version: 1, path: bytes('/x'), follow: false };

function uploading(): CopySessionState {
  const s = new CopySessionState();
  s.clientFrame(copyTo);
  return s;
}

describe('CopySessionState', () => {
  it('starts with CopyTo, CopyFrom or Stat, and nothing else', () => {
    assert.equal(new CopySessionState().clientFrame(copyTo), true);
    assert.equal(new CopySessionState().clientFrame(stat), true);
    assert.throws(() => new CopySessionState().clientFrame(up(EntryKind.File, '')), UnexpectedFrameError);
    assert.throws(() => new CopySessionState().clientFrame({ type: FrameType.StdinClose }), UnexpectedFrameError);
  });

  it('refuses a second request', () => {
    assert.throws(() => uploading().clientFrame(copyFrom), UnexpectedFrameError);
  });

  it('takes a whole upload and a CopyResult after its end', () => {
    const s = uploading();
    for (const m of [up(EntryKind.Directory, ''), up(EntryKind.File, 'a', 3), data(FrameType.UploadData, 2), data(FrameType.UploadData, 1), { type: FrameType.UploadEntryEnd, sha256: digest } as Message, up(EntryKind.Symlink, 'l'), end(FrameType.UploadEnd, 3, 3)]) {
      assert.equal(s.clientFrame(m), true);
    }
    assert.equal(s.agentFrame(end(FrameType.CopyResult, 3, 3)), true);
    assert.equal(s.ended, true);
  });

  it('wants the root first, with an empty path, and only one', () => {
    assert.throws(() => uploading().clientFrame(up(EntryKind.File, 'a')), UnexpectedFrameError);
    const s = uploading();
    s.clientFrame(up(EntryKind.Directory, ''));
    assert.throws(() => s.clientFrame(up(EntryKind.Directory, '')), UnexpectedFrameError);
  });

  it('allows nothing below a root that is not a directory', () => {
    const s = uploading();
    s.clientFrame(up(EntryKind.Symlink, ''));
    assert.throws(() => s.clientFrame(up(EntryKind.File, 'a')), UnexpectedFrameError);
  });

  it('allows data only inside a file entry, and no more than its size', () => {
    const s = uploading();
    assert.throws(() => s.clientFrame(data(FrameType.UploadData, 1)), UnexpectedFrameError);
    const t = uploading();
    t.clientFrame(up(EntryKind.File, '', 2));
    assert.throws(() => t.clientFrame(data(FrameType.UploadData, 3)), MalformedFrameError);
  });

  it('ends a file only once its size has come, and not before the next entry', () => {
    const s = uploading();
    s.clientFrame(up(EntryKind.Directory, ''));
    s.clientFrame(up(EntryKind.File, 'a', 2));
    s.clientFrame(data(FrameType.UploadData, 1));
    assert.throws(() => s.clientFrame({ type: FrameType.UploadEntryEnd, sha256: digest }), MalformedFrameError);
    const t = uploading();
    t.clientFrame(up(EntryKind.Directory, ''));
    t.clientFrame(up(EntryKind.File, 'a', 0));
    assert.throws(() => t.clientFrame(up(EntryKind.File, 'b', 0)), UnexpectedFrameError);
  });

  it('takes any amount of data for a file of unknown size (uploads)', () => {
    const s = uploading();
    s.clientFrame(up(EntryKind.File, '', null));
    s.clientFrame(data(FrameType.UploadData, 1000));
    assert.equal(s.clientFrame({ type: FrameType.UploadEntryEnd, sha256: digest }), true);
  });

  it('checks the end counts against what came', () => {
    const s = uploading();
    s.clientFrame(up(EntryKind.File, '', 1));
    s.clientFrame(data(FrameType.UploadData, 1));
    s.clientFrame({ type: FrameType.UploadEntryEnd, sha256: digest });
    assert.throws(() => s.clientFrame(end(FrameType.UploadEnd, 1, 2)), MalformedFrameError);
  });

  it('refuses CopyResult before the upload ended, and frames of the other operations', () => {
    const s = uploading();
    assert.throws(() => s.agentFrame(end(FrameType.CopyResult, 0, 0)), UnexpectedFrameError);
    assert.throws(() => uploading().agentFrame(down(EntryKind.File, '')), UnexpectedFrameError);
    const f = new CopySessionState();
    f.clientFrame(copyFrom);
    assert.throws(() => f.clientFrame(up(EntryKind.File, '')), UnexpectedFrameError);
    assert.throws(() => f.agentFrame({ type: FrameType.StatResult, kind: 0, mode: 0, uid: 0, gid: 0, mtimeSeconds: 0, mtimeNanoseconds: 0, size: 0, major: 0, minor: 0, link: none }), UnexpectedFrameError);
  });

  it('takes a download with totals before the first entry only', () => {
    const s = new CopySessionState();
    s.clientFrame(copyFrom);
    assert.equal(s.agentFrame({ type: FrameType.DownloadTotals, entries: 1, bytes: 0 }), true);
    assert.equal(s.agentFrame(down(EntryKind.Directory, '')), true);
    assert.throws(() => s.agentFrame({ type: FrameType.DownloadTotals, entries: 1, bytes: 0 }), UnexpectedFrameError);
    assert.equal(s.agentFrame(end(FrameType.DownloadEnd, 1, 0)), true);
    assert.throws(() => s.agentFrame({ type: FrameType.Ping, token: new Uint8Array(8) }), UnexpectedFrameError);
  });

  it('drops what the client sends after the agent ended, and lets an Error end either side', () => {
    const s = uploading();
    s.clientFrame(up(EntryKind.File, '', 10));
    assert.equal(s.agentFrame({ type: FrameType.Error, code: 'NO_SPACE', wireCode: 36, message: 'full' }), true);
    assert.equal(s.clientFrame(data(FrameType.UploadData, 5)), false);
    const t = uploading();
    t.clientFrame({ type: FrameType.Error, code: 'INTERNAL_ERROR', wireCode: 32, message: 'bye' });
    assert.throws(() => t.clientFrame(up(EntryKind.File, '')), UnexpectedFrameError);
    assert.equal(t.agentFrame(end(FrameType.CopyResult, 0, 0)), false);
  });
});
