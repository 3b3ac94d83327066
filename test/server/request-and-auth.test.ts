// The API server's request parsing, token verification and origin policy, on their own.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { ApiError } from '../../src/host/server/errors.js';
import { parseJsonRequest, parseQueryRequest, queryHasRequest } from '../../src/host/server/ExecRequestParams.js';
import { OriginPolicy } from '../../src/host/server/OriginPolicy.js';
import { parseServerConfig } from '../../src/host/server/ServerConfig.js';
import { TokenVerifier, mayUseInstance } from '../../src/host/server/TokenVerifier.js';
import { signDevelopmentToken } from '../../src/host/server/TokenSigner.js';

const SECRET = 'x'.repeat(32);
const rejects = (code: string) => (e: unknown) => e instanceof ApiError && e.code === code;

describe('query requests (spec §8.1)', () => {
  it('reads every parameter, repeated ones in order', () => {
    const q = new URLSearchParams('command=ls&command=-l&command=%2Ftmp&tty=true&env=A%3D1&env=B%3Dx%3Dy&cwd=%2Fsrv&user=app&timeout=5&rows=30&cols=100');
    assert.ok(queryHasRequest(q));
    const r = parseQueryRequest(q);
    assert.deepEqual(r.argv, ['ls', '-l', '/tmp']);
    assert.equal(r.tty, true);
    assert.deepEqual({ ...r.env }, { A: '1', B: 'x=y' });
    assert.equal(r.cwd, '/srv');
    assert.equal(r.user, 'app');
    assert.equal(r.timeoutSeconds, 5);
    assert.deepEqual(r.window, { rows: 30, cols: 100 });
  });

  it('does not count wait_for_agent as a request', () => {
    assert.equal(queryHasRequest(new URLSearchParams('wait_for_agent=3')), false);
  });

  it('rejects bad values with 400 INVALID_REQUEST', () => {
    for (const q of ['tty=maybe', 'timeout=-1', 'timeout=1.5', 'rows=10', 'rows=0&cols=1', 'env=NOEQUALS', 'env=%3Dv', 'command=a%00b']) {
      assert.throws(() => parseQueryRequest(new URLSearchParams(q)), rejects('INVALID_REQUEST'), q);
    }
  });
});

describe('JSON requests (spec §8.2)', () => {
  it('reads the original platform\'s request', () => {
    const p = parseJsonRequest('{"command":["sh","-c","echo hi"],"tty":false,"env":{"K":"V"},"cwd":"/","timeout":3,"wait_for_agent":2}');
    assert.deepEqual(p.request.argv, ['sh', '-c', 'echo hi']);
    assert.deepEqual({ ...p.request.env }, { K: 'V' });
    assert.equal(p.request.timeoutSeconds, 3);
    assert.equal(p.waitForAgentSeconds, 2);
  });

  it('rejects what is not a request object', () => {
    for (const t of ['nope', '[]', '"x"', '{"command":"ls"}', '{"tty":"yes"}', '{"env":{"A=B":"x"}}', '{"wait_for_agent":-1}', '{"wait_for_agent":100000}']) {
      assert.throws(() => parseJsonRequest(t), rejects('INVALID_REQUEST'), t);
    }
  });
});

describe('TokenVerifier', () => {
  it('accepts an HS256 token and reads sub and instances', async () => {
    const v = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET });
    const p = await v.verify(await signDevelopmentToken(SECRET, { sub: 'alice', instances: ['web-1'] }));
    assert.deepEqual(p, { subject: 'alice', instances: ['web-1'] });
    assert.equal(mayUseInstance(p, 'id-1', 'web-1'), true);
    assert.equal(mayUseInstance(p, 'id-2', 'db-1'), false);
  });

  it('rejects a wrong signature, an expired token, garbage and a missing sub', async () => {
    const v = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET });
    await assert.rejects(v.verify(await signDevelopmentToken('y'.repeat(32), { sub: 'a' })), rejects('UNAUTHORIZED'));
    await assert.rejects(v.verify(await signDevelopmentToken(SECRET, { sub: 'a' }, -1)), rejects('UNAUTHORIZED'));
    await assert.rejects(v.verify('not.a.jwt'), rejects('UNAUTHORIZED'));
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    await assert.rejects(v.verify(noSub), (e: unknown) => rejects('UNAUTHORIZED')(e) && /no "sub" claim/.test((e as Error).message));
  });

  it('refuses an alg=none token and an HS256 token when a public key is configured', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const v = TokenVerifier.fromConfig({ kind: 'public-key', pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), algorithms: ['ES256'] });
    const good = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('bob').setExpirationTime('1h').sign(privateKey);
    assert.equal((await v.verify(good)).subject, 'bob');
    await assert.rejects(v.verify(await signDevelopmentToken(SECRET, { sub: 'a' })), rejects('UNAUTHORIZED'));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
    await assert.rejects(v.verify(none), rejects('UNAUTHORIZED'));
  });

  it('requires exp, with a message that says so', async () => {
    const v = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET });
    const forever = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').sign(new TextEncoder().encode(SECRET));
    await assert.rejects(v.verify(forever), (e: unknown) => rejects('UNAUTHORIZED')(e) && /no "exp" claim; this server accepts only tokens that expire/.test((e as Error).message));
  });

  it('checks iss and aud when configured, and only then', async () => {
    const v = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET }, { issuer: 'https://auth.example', audience: 'hypeman-exec' });
    const good = await signDevelopmentToken(SECRET, { sub: 'a', iss: 'https://auth.example', aud: 'hypeman-exec' });
    assert.equal((await v.verify(good)).subject, 'a');
    const message = (re: RegExp) => (e: unknown) => rejects('UNAUTHORIZED')(e) && re.test((e as Error).message);
    await assert.rejects(v.verify(await signDevelopmentToken(SECRET, { sub: 'a', aud: 'hypeman-exec' })), message(/no "iss" claim/));
    await assert.rejects(v.verify(await signDevelopmentToken(SECRET, { sub: 'a', iss: 'https://evil.example', aud: 'hypeman-exec' })), message(/"iss" claim is not valid/));
    await assert.rejects(v.verify(await signDevelopmentToken(SECRET, { sub: 'a', iss: 'https://auth.example', aud: 'other' })), message(/"aud" claim is not valid/));
    const lax = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET });
    assert.equal((await lax.verify(await signDevelopmentToken(SECRET, { sub: 'a', iss: 'anyone', aud: 'anything' }))).subject, 'a');
  });

  it('remembers a verified token until it expires, and only a verified one', async () => {
    const v = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET });
    const token = await signDevelopmentToken(SECRET, { sub: 'carol', instances: ['web'] }, 2);
    assert.equal(v.verifiedBefore(token), undefined);
    assert.deepEqual(await v.verify(token), { subject: 'carol', instances: ['web'] });
    assert.deepEqual(v.verifiedBefore(token), { subject: 'carol', instances: ['web'] });
    const forged = await signDevelopmentToken('z'.repeat(32), { sub: 'carol' });
    await assert.rejects(v.verify(forged), rejects('UNAUTHORIZED'));
    assert.equal(v.verifiedBefore(forged), undefined);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal(v.verifiedBefore(token), undefined);
  });

  it('refuses a short secret at configuration time', () => {
    assert.throws(() => TokenVerifier.fromConfig({ kind: 'secret', secret: 'short' }), /at least 32 bytes/);
  });
});

describe('server configuration', () => {
  it('takes --jwt-issuer and --jwt-audience, or HYPEMAN_JWT_ISSUER and HYPEMAN_JWT_AUDIENCE', async () => {
    const fromFlags = await parseServerConfig(['--jwt-secret', SECRET, '--jwt-issuer', 'i', '--jwt-audience', 'a'], {}, '0.0.0');
    assert.deepEqual(fromFlags?.tokenClaims, { issuer: 'i', audience: 'a' });
    const fromEnv = await parseServerConfig([], { HYPEMAN_JWT_SECRET: SECRET, HYPEMAN_JWT_ISSUER: 'j' }, '0.0.0');
    assert.deepEqual(fromEnv?.tokenClaims, { issuer: 'j' });
  });

  it('refuses a --max-frame-size below the agent\'s 64 KiB output frames, with exit status 1', async () => {
    const main = new URL('../../src/host/server/main.ts', import.meta.url).pathname;
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', main, '--jwt-secret', SECRET, '--max-frame-size', '1024']);
    await assert.rejects(run, (e: { code?: number; stderr?: string }) => {
      assert.equal(e.code, 1);
      assert.equal(e.stderr, 'hypeman-exec-server: --max-frame-size must be a number ≥ 65536, got 1024\n');
      return true;
    });
  });
});

describe('OriginPolicy', () => {
  it('allows requests without Origin, and the server\'s own origin by default', () => {
    const p = new OriginPolicy();
    assert.equal(p.allows('', 'localhost:8080'), true);
    assert.equal(p.allows('http://localhost:8080', 'localhost:8080'), true);
    assert.equal(p.allows('http://evil.example', 'localhost:8080'), false);
    assert.equal(p.allows('null', 'localhost:8080'), false);
  });

  it('allows listed origins, normalised', () => {
    const p = new OriginPolicy(['https://console.example/']);
    assert.equal(p.allows('HTTPS://console.example', 'api:8080'), true);
    assert.equal(p.allows('https://other.example', 'api:8080'), false);
  });
});
