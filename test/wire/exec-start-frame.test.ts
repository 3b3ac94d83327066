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
    assert.throws(() => ExecStartFrame.decode(encodeExecStart({}, 2)), UnsupportedVersionError);
  });
});
