// ExecStartFrame: a request encoded once, its bytes and its meaning kept together.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecStartFrame, InvalidRequestError, UnsupportedVersionError, encodeExecStart } from '../../src/wire/index.js';

describe('ExecStartFrame', () => {
  it('encodes canonically and fills the absent fields with their empty values', () => {
    const f = ExecStartFrame.encode({ argv: ['ls', '-l'], tty: true, window: { rows: 30, cols: 100 } });
    assert.deepEqual(f.bytes, encodeExecStart({ argv: ['ls', '-l'], tty: true, window: { rows: 30, cols: 100 } }));
    assert.deepEqual(f.request, { argv: ['ls', '-l'], env: {}, cwd: '', user: '', tty: true, timeoutSeconds: 0, window: { rows: 30, cols: 100 } });
  });

  it('refuses what the protocol cannot carry, before anything is sent', () => {
    assert.throws(() => ExecStartFrame.encode({ argv: ['a\0b'] }), InvalidRequestError);
    assert.throws(() => ExecStartFrame.encode({ env: { 'A=B': 'c' } }), InvalidRequestError);
  });

  it('decodes a received frame and keeps its very bytes', () => {
    const bytes = encodeExecStart({ argv: ['env'], env: { A: '1' }, cwd: '/tmp', user: 'app', timeoutSeconds: 5 });
    const f = ExecStartFrame.decode(bytes);
    assert.equal(f.bytes, bytes);
    assert.deepEqual({ ...f.request, env: { ...f.request.env } }, { argv: ['env'], env: { A: '1' }, cwd: '/tmp', user: 'app', tty: false, timeoutSeconds: 5 });
  });

  it('throws the protocol error a bad payload deserves', () => {
    assert.throws(() => ExecStartFrame.decode(encodeExecStart({}, 3)), UnsupportedVersionError);
  });

  it('is version 1 unless the request needs version 2 (§10)', () => {
    assert.equal(ExecStartFrame.encode({ argv: ['true'] }).version, 1);
    assert.equal(ExecStartFrame.encode({ argv: ['true'], lingerSeconds: 30 }).version, 2);
    assert.equal(ExecStartFrame.encode({ argv: ['true'], overflow: 'drop' }).version, 2);
    assert.equal(ExecStartFrame.encode({ argv: ['true'] }, 2).version, 2);
    assert.throws(() => ExecStartFrame.encode({ lingerSeconds: 5 }, 1), InvalidRequestError);
  });

  it('carries a resume and refuses a request beside it', () => {
    const id = Uint8Array.from({ length: 16 }, (_, i) => i);
    const f = ExecStartFrame.encode({ resume: { sessionId: id, stdoutBytes: 5, stderrBytes: 2 ** 40 } });
    assert.equal(f.version, 2);
    assert.deepEqual({ ...f.resume!, sessionId: Buffer.from(f.resume!.sessionId).toString('hex') }, { sessionId: Buffer.from(id).toString('hex'), stdoutBytes: 5, stderrBytes: 2 ** 40 });
    assert.throws(() => ExecStartFrame.encode({ argv: ['ls'], resume: { sessionId: id, stdoutBytes: 0, stderrBytes: 0 } }), InvalidRequestError);
  });

  it('withOwner replaces the owner and keeps every other field, ignorable ones included', () => {
    const id = new Uint8Array(16).fill(7);
    for (const content of [{ argv: ['id'], lingerSeconds: 9, overflow: 'drop' as const, owner: 'mallory' }, { resume: { sessionId: id, stdoutBytes: 1, stderrBytes: 2 } }]) {
      const f = ExecStartFrame.encode(content).withOwner('alice');
      assert.equal(f.owner, 'alice');
      assert.deepEqual(f.bytes, ExecStartFrame.encode({ ...content, owner: 'alice' }).bytes);
    }
    // An ignorable field (0x81) keeps its bytes; the owner goes before it, by ascending tag.
    const withIgnorable = Buffer.from('0000001c01000201000000026964810000000178' + '0a00000003626f62', 'hex');
    withIgnorable.writeUInt32BE(withIgnorable.length - 5, 0);
    const f = ExecStartFrame.decode(withIgnorable).withOwner('carol');
    assert.equal(Buffer.from(f.bytes).toString('hex'), '00000019010002010000000269640a000000056361726f6c810000000178');
    assert.deepEqual(f.request.argv, ['id']);
  });

  it('withAttach sets the attach field of a resume as the server grants it, keeping the other fields', () => {
    const id = new Uint8Array(16).fill(3);
    const observe = { mode: 'observe' as const, live: true, anyOwner: true };
    const forged = ExecStartFrame.encode({ owner: 'mallory', resume: { sessionId: id, stdoutBytes: 4, stderrBytes: 0, attach: observe } });
    const granted = forged.withOwner('bob').withAttach({ ...observe, anyOwner: false });
    assert.deepEqual(granted.resume?.attach, { ...observe, anyOwner: false });
    assert.deepEqual(granted.bytes, ExecStartFrame.encode({ owner: 'bob', resume: { sessionId: id, stdoutBytes: 4, stderrBytes: 0, attach: { ...observe, anyOwner: false } } }).bytes);
    // A resume without the field gets it where ascending tags put it: last.
    const plain = ExecStartFrame.encode({ resume: { sessionId: id, stdoutBytes: 0, stderrBytes: 0 } }).withAttach({ mode: 'take-over', live: false, anyOwner: false });
    assert.equal(Buffer.from(plain.bytes).subarray(-7).toString('hex'), '12000000020100');
    assert.throws(() => ExecStartFrame.encode({ argv: ['id'] }).withAttach(observe), InvalidRequestError);
    assert.throws(() => ExecStartFrame.encode({ resume: { sessionId: id, stdoutBytes: 0, stderrBytes: 0, attach: { mode: 'write', live: true, anyOwner: false } } }), InvalidRequestError);
  });
});
