// Issue 15: the browser terminal's HTTP side, without a browser: the page and its bundle with
// their types, caching and Content-Security-Policy, the Host allowlist in front of them, and
// a clear 503 when the bundle is not built. (test/web drives the page in Chromium.)
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ApiServer } from '../../src/host/server/ApiServer.js';
import { RegistryDirectory } from '../../src/host/server/RegistryDirectory.js';
import { TokenVerifier } from '../../src/host/server/TokenVerifier.js';
import { WebPages } from '../../src/host/server/WebPages.js';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { SECRET } from './stack.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
const built = existsSync(join(PROJECT, 'dist/web/manifest.json'));

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

async function startServer(web: WebPages): Promise<{ server: ApiServer; origin: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hypeman-web-pages-'));
  const server = new ApiServer({
    host: '127.0.0.1',
    port: 0,
    directory: new RegistryDirectory(new InstanceRegistry(dir)),
    verifier: TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET }),
    logger: pino({ level: 'silent' }),
    web,
  });
  const port = await server.start();
  return { server, origin: `http://127.0.0.1:${port}`, dir };
}

describe('the browser terminal over HTTP', { skip: built ? false : 'dist/web is not built: run npm run build' }, () => {
  let server: ApiServer;
  let origin: string;
  let dir: string;

  before(async () => {
    ({ server, origin, dir } = await startServer(WebPages.load()));
  });
  after(async () => {
    await server.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves one page at / and /instances/{id}/terminal: HTML, never cached, a strict CSP with a fresh nonce', async () => {
    const nonces = new Set<string>();
    for (const path of ['/', '/instances/web-1/terminal', '/instances/web-1/terminal']) {
      const page = await get(`${origin}${path}`);
      assert.equal(page.status, 200, path);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal(page.headers['x-frame-options'], 'DENY');
      const csp = String(page.headers['content-security-policy']);
      const nonce = /style-src 'self' 'nonce-([A-Za-z0-9+/=]{24})'/.exec(csp)?.[1];
      assert.ok(nonce, csp);
      nonces.add(nonce);
      assert.equal(
        csp,
        `default-src 'none'; script-src 'self'; style-src 'self' 'nonce-${nonce}'; connect-src 'self'; img-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      );
      const html = page.body.toString();
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script');
      assert.doesNotMatch(html, /<style|style=/, 'no inline style');
      assert.ok(html.includes(`nonce="${nonce}"`));
      // Links relative to the page, so a proxy may mount the server under a prefix.
      const up = path === '/' ? '' : '../../';
      assert.match(html, new RegExp(`<script src="${up}assets/terminal-[A-Z0-9]+\\.js" nonce="[^"]+" defer></script>`));
      assert.match(html, new RegExp(`<link rel="stylesheet" href="${up}assets/terminal-[A-Z0-9]+\\.css">`));
    }
    assert.equal(nonces.size, 3, 'a nonce per response');
  });

  it('serves the bundle under content-hashed names, cached for good, gzipped when asked', async () => {
    const html = (await get(`${origin}/`)).body.toString();
    for (const [name, type] of [
      [/src="(assets\/[^"]+\.js)"/.exec(html)![1], 'text/javascript; charset=utf-8'],
      [/href="(assets\/[^"]+\.css)"/.exec(html)![1], 'text/css; charset=utf-8'],
    ]) {
      const plain = await get(`${origin}/${name}`);
      assert.equal(plain.status, 200);
      assert.equal(plain.headers['content-type'], type);
      assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(plain.headers['x-content-type-options'], 'nosniff');
      assert.equal(plain.headers['content-encoding'], undefined);
      const zipped = await get(`${origin}/${name}`, { 'accept-encoding': 'gzip, deflate, br' });
      assert.equal(zipped.headers['content-encoding'], 'gzip');
      assert.equal(zipped.headers.vary, 'accept-encoding');
      assert.ok(zipped.body.length < plain.body.length / 2);
      assert.deepEqual(gunzipSync(zipped.body), plain.body);
    }
    const missing = await get(`${origin}/assets/terminal-NOPE.js`);
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).code, 'NOT_FOUND');
    assert.equal((await get(`${origin}/favicon.ico`)).status, 204);
  });

  it('answers 421 to a name it was not given, for the page as for the API (DNS rebinding)', async () => {
    for (const path of ['/', '/instances/web-1/terminal', '/favicon.ico']) {
      const answer = await get(`${origin}${path}`, { host: 'rebind.example' });
      assert.equal(answer.status, 421, path);
      assert.equal(JSON.parse(answer.body.toString()).code, 'MISDIRECTED_HOST');
    }
    assert.equal((await get(`${origin}/`, { host: `localhost:${server.port}` })).status, 200);
  });
});

describe('the browser terminal not built', () => {
  it('answers 503 saying how to build it; the API is unaffected', async () => {
    const { server, origin, dir } = await startServer(WebPages.load(join(tmpdir(), 'hypeman-no-such-web-dir')));
    try {
      const page = await get(`${origin}/instances/web-1/terminal`);
      assert.equal(page.status, 503);
      assert.match(page.body.toString(), /the browser terminal is not built \(no .*manifest\.json\); run npm run build/);
      assert.equal((await get(`${origin}/healthz`)).status, 200);
    } finally {
      await server.stop(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
