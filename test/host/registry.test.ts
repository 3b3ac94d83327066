// The instance registry: records on disk, lookups by id and name, hostile ids, live state.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { RegistryError } from '../../src/host/registry/errors.js';
import { dialerFor } from '../../src/host/dial/dialerFor.js';

const dir = mkdtempSync(join(tmpdir(), 'hypeman-registry-'));
const failsWith = (code: string) => (e: unknown) => e instanceof RegistryError && e.code === code;

describe('InstanceRegistry', () => {
  const registry = new InstanceRegistry(dir);
  const base = { state: 'running', hypervisor: 'cloud-hypervisor' as const, createdAt: '2026-11-28T00:00:00Z' };

  it('finds records by id and by name; relative socket paths are under the guest dir', async () => {
    await registry.put({ id: 'a1', name: 'web', ...base, vsock: { socket: 'vsock.sock' } });
    const byId = await registry.get('a1');
    const byName = await registry.get('web');
    assert.deepEqual(byId, byName);
    assert.deepEqual(byId.vsock, { socket: join(dir, 'guests', 'a1', 'vsock.sock') });
    assert.equal(await registry.find('nobody'), undefined);
    await assert.rejects(registry.get('nobody'), failsWith('INSTANCE_NOT_FOUND'));
  });

  it('rejects hostile ids before touching the file system', async () => {
    for (const id of ['../x', 'a/b', '', '.', '..', '.hidden', 'x'.repeat(129), 'nul\0byte', 'tab\tid', 'new\nline', '/etc/passwd']) {
      await assert.rejects(registry.find(id), failsWith('INVALID_INSTANCE_ID'), JSON.stringify(id));
    }
    assert.throws(() => registry.guestDir('../../etc'), failsWith('INVALID_INSTANCE_ID'));
  });

  it('sees records written or changed on disk by others, without a restart', async () => {
    mkdirSync(join(dir, 'guests', 'ext'), { recursive: true });
    writeFileSync(join(dir, 'guests', 'ext', 'metadata.json'), JSON.stringify({ id: 'ext', name: 'external', state: 'stopped', hypervisor: 'qemu', vsock: { cid: 42 } }));
    assert.equal((await registry.get('external')).state, 'stopped');
    writeFileSync(join(dir, 'guests', 'ext', 'metadata.json'), JSON.stringify({ id: 'ext', name: 'external', state: 'running', hypervisor: 'qemu', vsock: { cid: 42 }, extra: 'changed size' }));
    const r = await registry.get('ext');
    assert.equal(r.state, 'running');
    assert.deepEqual(r.vsock, { cid: 42 });
    assert.equal(dialerFor(r).target, 'vsock cid 42 port 2222');
  });

  it('reports a running record whose process is gone as stopped', async () => {
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    await registry.put({ id: 'dead', name: 'dead', ...base, vsock: { socket: 'vsock.sock' }, pid: child.pid! });
    assert.equal((await registry.get('dead')).state, 'stopped');
    await registry.put({ id: 'alive', name: 'alive', ...base, vsock: { socket: 'vsock.sock' }, pid: process.pid });
    assert.equal((await registry.get('alive')).state, 'running');
  });

  it('says which records are corrupt, and has no dialer without a vsock', async () => {
    mkdirSync(join(dir, 'guests', 'bad'), { recursive: true });
    writeFileSync(join(dir, 'guests', 'bad', 'metadata.json'), '{"id":"other"}');
    await assert.rejects(registry.get('bad'), failsWith('CORRUPT_RECORD'));
    await registry.put({ id: 'novsock', name: 'novsock', ...base });
    assert.throws(() => dialerFor({ id: 'novsock', name: 'novsock', ...base }), failsWith('NO_VSOCK'));
  });

  it('says which instances a shared name could mean, and finds each by id', async () => {
    await registry.put({ id: 'twin-1', name: 'twin', ...base });
    await registry.put({ id: 'twin-2', name: 'twin', ...base });
    await assert.rejects(registry.get('twin'), (e: unknown) => {
      assert.ok(failsWith('AMBIGUOUS_INSTANCE_NAME')(e));
      assert.match((e as Error).message, /ids twin-1, twin-2\); use the id/);
      return true;
    });
    assert.equal((await registry.get('twin-2')).id, 'twin-2');
    await Promise.all([registry.remove('twin-1'), registry.remove('twin-2')]);
  });

  it('getRunning: not found, not running, no vsock — each its own error', async () => {
    await registry.put({ id: 'off', name: 'off', ...base, state: 'stopped', vsock: { socket: 'vsock.sock' } });
    await registry.put({ id: 'bare', name: 'bare', ...base });
    await assert.rejects(registry.getRunning('ghost'), failsWith('INSTANCE_NOT_FOUND'));
    await assert.rejects(registry.getRunning('off'), (e: unknown) => failsWith('INSTANCE_NOT_RUNNING')(e) && (e as { state?: string }).state === 'stopped');
    await assert.rejects(registry.getRunning('bare'), failsWith('NO_VSOCK'));
    assert.equal((await registry.getRunning('web')).id, 'a1');
  });

  it('never takes the host, loopback or wildcard CID from a record, and refuses to write such a record', async () => {
    for (const cid of [0, 1, 2, 0xffffffff, -3, 3.5, '7']) {
      mkdirSync(join(dir, 'guests', 'cid'), { recursive: true });
      writeFileSync(join(dir, 'guests', 'cid', 'metadata.json'), JSON.stringify({ id: 'cid', name: 'cid', state: 'running', hypervisor: 'qemu', vsock: { cid } }));
      await assert.rejects(registry.get('cid'), failsWith('CORRUPT_RECORD'), String(cid));
    }
    await assert.rejects(registry.put({ id: 'cid2', name: 'cid2', ...base, hypervisor: 'qemu', vsock: { cid: 2 } }), failsWith('CORRUPT_RECORD'));
    await assert.rejects(registry.put({ id: 'cid2', name: 'bad/name', ...base }), failsWith('INVALID_INSTANCE_ID'));
    await registry.remove('cid');
  });

  it('keeps every record whole under concurrent writes', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => registry.put({ id: 'busy', name: 'busy', ...base, pid: process.pid, state: i % 2 ? 'running' : 'paused' })));
    assert.ok(['running', 'paused'].includes((await registry.get('busy')).state));
    await registry.remove('busy');
  });

  it('lists every valid record and removes records', async () => {
    const names = (await registry.list()).map((r) => r.name);
    assert.ok(names.includes('web') && names.includes('external') && !names.includes('bad'));
    await registry.remove('alive');
    assert.equal(await registry.find('alive'), undefined);
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
