// `hypeman-exec-server token`: the compiled bin mints tokens that the server's own verifier
// accepts with the matching key, and refuses what it cannot sign with a clear line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TokenVerifier } from '../../src/host/server/TokenVerifier.js';

const BIN = new URL('../../dist/src/host/server/main.js', import.meta.url).pathname;
const SECRET = 'token-command-secret-token-command-secret';

function mint(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, 'token', ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

describe('hypeman-exec-server token', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hypeman-token-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('mints an HS256 token from the secret in the environment: subject, instances, lifetime', async () => {
    const r = mint(['--sub', 'alice', '--instances', 'web-1, db', '--ttl', '2h'], { HYPEMAN_JWT_SECRET: SECRET });
    assert.equal(r.status, 0, r.stderr);
    const token = r.stdout.trim();
    assert.equal(r.stdout, `${token}\n`, 'stdout holds the token alone, for $(…)');
    assert.match(r.stderr, /a token for "alice", instances web-1, db, expires \d{4}-\d\d-\d\dT/);
    const principal = await TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET }).verify(token);
    assert.deepEqual(principal, { subject: 'alice', instances: ['web-1', 'db'] });
    const { exp, iat } = payloadOf(token) as { exp: number; iat: number };
    assert.equal(exp - iat, 7200);
  });

  it('mints the observe claim (--observe), which the server reads as where the subject may watch others', async () => {
    const r = mint(['--sub', 'oncall', '--observe', "web-1,*"], { HYPEMAN_JWT_SECRET: SECRET });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /a token for "oncall", every instance, observing others on web-1, \*, expires/);
    const principal = await TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET }).verify(r.stdout.trim());
    assert.deepEqual(principal, { subject: 'oncall', observe: ['web-1', '*'] });
    assert.deepEqual(payloadOf(r.stdout.trim()).observe, ['web-1', '*']);
  });

  it('reads the secret from a file (npm start keeps one) and sets iss and aud from the environment the server reads', async () => {
    const file = join(dir, 'jwt-secret');
    writeFileSync(file, `${SECRET}\n`);
    const r = mint(['--sub', 'ci', '--jwt-secret-file', file], { HYPEMAN_JWT_ISSUER: 'https://id.example.com', HYPEMAN_JWT_AUDIENCE: 'hypeman' });
    assert.equal(r.status, 0, r.stderr);
    const verifier = TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET }, { issuer: 'https://id.example.com', audience: 'hypeman' });
    assert.deepEqual(await verifier.verify(r.stdout.trim()), { subject: 'ci' });
    assert.match(r.stderr, /every instance, expires/);
  });

  for (const algorithm of ['RS256', 'ES256'] as const) {
    it(`signs ${algorithm} with a private key that the server verifies with its public half`, async () => {
      const { privateKey, publicKey } =
        algorithm === 'RS256'
          ? generateKeyPairSync('rsa', { modulusLength: 2048 })
          : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const file = join(dir, `${algorithm}.pem`);
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const r = mint(['--sub', 'bob', '--jwt-private-key', file, '--jwt-algorithm', algorithm]);
      assert.equal(r.status, 0, r.stderr);
      const verifier = TokenVerifier.fromConfig({ kind: 'public-key', pem: publicKey.export({ type: 'spki', format: 'pem' }) as string, algorithms: [algorithm] });
      assert.deepEqual(await verifier.verify(r.stdout.trim()), { subject: 'bob' });
    });
  }

  it('refuses, in one line and with status 1, what it cannot sign', () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--sub', 'a'], {}, /no key to sign with: give --jwt-secret-file/],
      [['--jwt-secret', SECRET], {}, /Missing required argument: sub/],
      [['--sub', 'a', '--ttl', '5y'], { HYPEMAN_JWT_SECRET: SECRET }, /--ttl "5y" must be a duration from 1s to 366d/],
      [['--sub', 'a', '--jwt-secret', 'short'], {}, /at least 32 bytes/],
      [['--sub', 'a', '--jwt-secret-file', join(dir, 'missing')], {}, /cannot read .*missing: ENOENT/],
      [['--sub', ' ', '--jwt-secret', SECRET], {}, /--sub\) must not be empty/],
    ];
    for (const [args, env, message] of cases) {
      const r = mint(args, env);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
