// More than one host behind one endpoint (issue 20 item 9): Debian's nginx, started here,
// routes /instances/{id}/… (exec and the terminal page) to the API server of the host that owns the instance, with a map
// that scripts/nginx-routes.mjs generates from each server's GET /instances. Two API
// servers with their own instances and agents stand for two hosts.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { execInInstance } from '../../src/host/client/execInInstance.js';
import { freePort } from '../local/startProcess.js';
import { type Stack, startStack } from './stack.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const ROUTES_SCRIPT = new URL('../../scripts/nginx-routes.mjs', import.meta.url).pathname;

/** The proxy part of the README's example configuration; the map comes from the script. */
function nginxConf(dir: string, port: number): string {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $uri $hypeman_instance {
    ~^/instances/(?<instance>[^/]+) $instance;
    default "";
  }
  include ${dir}/hypeman-routes.conf;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    "" close;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://$hypeman_backend;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 1h;
      proxy_buffering off;
    }
  }
}
`;
}

async function listening(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('several hosts behind nginx', { skip: NGINX ? false : 'nginx is not installed (Debian package nginx-light); .ci/run installs it' }, () => {
  let hostA: Stack;
  let hostB: Stack;
  let dir: string;
  let nginx: ChildProcess;
  let api: string;

  before(async () => {
    [hostA, hostB] = await Promise.all([startStack({ instancePrefix: 'a-' }), startStack({ instancePrefix: 'b-' })]);
    dir = mkdtempSync(join(tmpdir(), 'hypeman-nginx-'));
    mkdirSync(join(dir, 'body'));
    const httpOf = (s: Stack) => s.url.replace('ws:', 'http:');
    // Not execFileSync: the servers it asks live in this process's event loop.
    const { stdout: routes } = await promisify(execFile)(process.execPath, [ROUTES_SCRIPT, '--token', hostA.token, httpOf(hostA), httpOf(hostB)], { encoding: 'utf8' });
    writeFileSync(join(dir, 'hypeman-routes.conf'), routes);
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port));
    nginx = spawn(NGINX!, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
    await listening(port);
    api = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    nginx?.kill('SIGTERM');
    if (nginx && nginx.exitCode === null) await new Promise((resolve) => nginx.once('exit', resolve));
    await Promise.all([hostA?.stop(), hostB?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('generates a map of every instance id and name to its host', () => {
    const map = readFileSync(join(dir, 'hypeman-routes.conf'), 'utf8');
    const { host: a } = new URL(hostA.url);
    const { host: b } = new URL(hostB.url);
    for (const key of ['a-web-id', 'a-web', 'a-db', 'a-old']) assert.match(map, new RegExp(`"${key}" "${a}";`));
    for (const key of ['b-web-id', 'b-web', 'b-db', 'b-old']) assert.match(map, new RegExp(`"${key}" "${b}";`));
  });

  it("runs a command in each host's instance through the one endpoint, over the WebSocket upgrade", async () => {
    for (const [instance, stack] of [['a-web', hostA], ['b-web', hostB]] as const) {
      const before = stack.auditLines.length;
      const s = await execInInstance({ apiUrl: api, instance, token: hostA.token }, { argv: ['sh', '-c', 'cat; echo " via $0"'] });
      let out = '';
      s.stdout.on('data', (d: Buffer) => (out += d));
      s.stderr.resume();
      s.stdin.end(instance);
      assert.equal((await s.exit).code, 0);
      assert.equal(out, `${instance} via sh\n`);
      assert.ok(stack.auditLines.slice(before).some((l) => l.includes(`"instance":"${instance}-id"`)), `${instance} ran on its own host`);
    }
  });

  it('relays the compatible dialect too', async () => {
    const ws = new WebSocket(`${api.replace('http:', 'ws:')}/instances/b-web/exec?command=echo&command=compat`, { headers: { authorization: `Bearer ${hostA.token}` } });
    const messages: string[] = [];
    ws.on('message', (d: Buffer) => messages.push(d.toString()));
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    assert.equal(code, 1000);
    assert.deepEqual(messages, ['compat\n', '{"exitCode":0}']);
  });

  it("serves each host's terminal page and its assets through the one endpoint", async () => {
    for (const instance of ['a-web', 'b-web']) {
      const res = await fetch(`${api}/instances/${instance}/terminal`);
      assert.equal(res.status, 200, instance);
      assert.match(res.headers.get('content-security-policy') ?? '', /connect-src 'self'/);
      const html = await res.text();
      const script = /src="([^"]*assets\/[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(script, html);
      // Relative to the page, as a browser resolves it: /instances/assets/… is not an instance.
      const asset = await fetch(new URL(script, `${api}/instances/${instance}/terminal`));
      assert.equal(asset.status, 200, `${instance}: ${script}`);
      assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    }
  });

  it("answers an unknown id with the API's own 404", async () => {
    const res = await fetch(`${api}/instances/nowhere`, { headers: { authorization: `Bearer ${hostA.token}` } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, 'INSTANCE_NOT_FOUND');
  });
});
