// Found by using it: two `npm start`s on one port both started, and the kernel shared the
// connections between them (a page's script came from one server and 404'd on the other),
// because uWebSockets.js listens with SO_REUSEPORT unless told otherwise.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { ApiServer } from '../../src/host/server/ApiServer.js';
import { RegistryDirectory } from '../../src/host/server/RegistryDirectory.js';
import { TokenVerifier } from '../../src/host/server/TokenVerifier.js';
import { freePort } from '../local/startProcess.js';
import { waitUntil } from '../guest/agentProcess.js';
import { SECRET } from './stack.js';

const SERVER_MAIN = new URL('../../src/host/server/main.ts', import.meta.url).pathname;

function server(dir: string, port: number): ApiServer {
  return new ApiServer({
    host: '127.0.0.1',
    port,
    directory: new RegistryDirectory(new InstanceRegistry(dir)),
    verifier: TokenVerifier.fromConfig({ kind: 'secret', secret: SECRET }),
    logger: pino({ level: 'silent' }),
  });
}

describe('listening', () => {
  it('refuses a port another server process already listens on, saying so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypeman-listen-'));
    const port = await freePort();
    const other = spawn(process.execPath, ['--import', 'tsx', SERVER_MAIN, '--port', String(port), '--data-dir', dir, '--jwt-secret', SECRET], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    other.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
    try {
      await waitUntil(() => log.includes('API server listening'), `the other server listens (${log})`);
      const second = server(dir, port);
      const started = await second.start().then(
        () => null,
        (err: Error) => err,
      );
      if (!started) await second.stop(0);
      assert.match(String(started?.message), new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}; is the port in use\\?`));
    } finally {
      other.kill('SIGKILL');
      await new Promise((resolve) => other.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
