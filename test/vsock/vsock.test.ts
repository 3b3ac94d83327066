// Real AF_VSOCK where this machine allows it: create, bind, listen and close. Connecting is
// never tried: this machine is itself a VM, and CID 2 or its own CID reach a hypervisor that
// is not ours. The refusal is tested with the native connect replaced by a trap.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAddon, type NativeAddon } from '../../src/vsock/addon.js';
import { connectVsock, localCid, VMADDR_CID_ANY, VMADDR_PORT_ANY, VsockError, VsockServer } from '../../src/vsock/index.js';

function hasCode(code: string) {
  return (error: unknown) => error instanceof VsockError && error.code === code;
}

describe('VsockServer (real AF_VSOCK)', () => {
  it('listens on a free port, refuses a second bind with VSOCK_ADDRESS_IN_USE, and close releases the port', async () => {
    const server = await VsockServer.listen({ port: VMADDR_PORT_ANY });
    assert.ok(Number.isInteger(server.port) && server.port !== VMADDR_PORT_ANY, `bound port ${server.port}`);
    assert.equal(server.cid, VMADDR_CID_ANY);
    assert.ok(server.listening);
    await assert.rejects(VsockServer.listen({ port: server.port }), (error: unknown) => {
      assert.ok(hasCode('VSOCK_ADDRESS_IN_USE')(error), String(error));
      assert.equal((error as VsockError).errno, 'EADDRINUSE');
      assert.match((error as Error).message, new RegExp(`vsock port ${server.port} is already in use: stop the other listener or choose another port`));
      return true;
    });
    const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
    await server.close();
    await closed;
    assert.ok(!server.listening);
    await server.close(); // idempotent

    const again = await VsockServer.listen({ port: server.port });
    assert.equal(again.port, server.port);
    await again.close();
  });

  it('rejects ports and CIDs outside 32 bits before making a socket', async () => {
    await assert.rejects(VsockServer.listen({ port: -1 }), RangeError);
    await assert.rejects(VsockServer.listen({ port: 2 ** 32 }), RangeError);
    await assert.rejects(VsockServer.listen({ port: 1.5 }), RangeError);
  });
});

describe('localCid', () => {
  it('is this VM\'s CID: a number above the reserved ones', () => {
    const cid = localCid();
    assert.equal(typeof cid, 'number');
    assert.ok((cid as number) > 2 && (cid as number) < VMADDR_CID_ANY, String(cid));
  });
});

describe('connectVsock refuses forbidden CIDs before any connect()', () => {
  let addon: NativeAddon;
  let realConnect: NativeAddon['vsockConnect'];
  const attempts: number[] = [];
  before(() => {
    addon = loadAddon();
    realConnect = addon.vsockConnect;
    // The trap: any connect reaching the native module is recorded and goes nowhere.
    addon.vsockConnect = (cid) => {
      attempts.push(cid);
      throw new Error(`connect to CID ${cid} was attempted`);
    };
  });
  after(() => {
    addon.vsockConnect = realConnect;
    assert.deepEqual(attempts, [], 'no connect was attempted');
  });

  for (const [cid, why] of [
    [0, /reserved for the hypervisor/],
    [1, /this machine \(vsock loopback\)/],
    [2, /it is the host/],
    [VMADDR_CID_ANY, /wildcard/],
  ] as const) {
    it(`CID ${cid}`, async () => {
      await assert.rejects(connectVsock({ cid, port: 2222 }), (error: unknown) => {
        assert.ok(hasCode('VSOCK_FORBIDDEN_CID')(error), String(error));
        assert.match((error as Error).message, why);
        assert.match((error as Error).message, /connect to a guest VM by its own CID/);
        return true;
      });
    });
  }

  it("this machine's own CID", async () => {
    const own = localCid() as number;
    await assert.rejects(connectVsock({ cid: own, port: 2222 }), hasCode('VSOCK_FORBIDDEN_CID'));
    await assert.rejects(connectVsock({ cid: own, port: 2222 }), /this machine's own CID/);
  });

  it("this machine's own CID when /dev/vsock cannot be read (localCid() is null)", async () => {
    const own = localCid() as number;
    const realLocalCid = addon.localCid;
    addon.localCid = () => null; // as for a user who may not open the root-only /dev/vsock
    try {
      await assert.rejects(connectVsock({ cid: own, port: 2222 }), (error: unknown) => {
        assert.ok(hasCode('VSOCK_FORBIDDEN_CID')(error), String(error));
        assert.match((error as Error).message, /this machine's own CID/);
        return true;
      });
    } finally {
      addon.localCid = realLocalCid;
    }
  });

  it('the native module holds the same rule (asked, not exercised)', () => {
    for (const cid of [0, 1, 2, VMADDR_CID_ANY, localCid() as number]) assert.equal(addon.forbiddenCid(cid), true, `CID ${cid}`);
    assert.equal(addon.forbiddenCid((localCid() as number) + 1000), false);
  });

  it('an already aborted signal rejects with VSOCK_ABORTED, without connecting', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(connectVsock({ cid: (localCid() as number) + 1000, port: 2222, signal: controller.signal }), hasCode('VSOCK_ABORTED'));
  });

  it('rejects CIDs and ports outside 32 bits', async () => {
    await assert.rejects(connectVsock({ cid: -1, port: 2222 }), RangeError);
    await assert.rejects(connectVsock({ cid: 3.5, port: 2222 }), RangeError);
    await assert.rejects(connectVsock({ cid: 1000, port: 2 ** 32 }), RangeError);
  });
});

// The native refusal itself, run where it matters most: as a user who cannot open the
// root-only /dev/vsock, so localCid() is null and only the kernel's bind check knows this
// machine's CID. strace replaces every connect() syscall with an injected EPERM, so even a
// broken refusal could not reach this machine's own CID.
describe('the native refusal as an unprivileged user, with connect() stubbed out by strace', () => {
  const root = new URL('../..', import.meta.url).pathname;
  const hasTool = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
  const skip = process.getuid?.() !== 0 ? 'needs root, to drop to nobody' : !hasTool('strace') || !hasTool('setpriv') ? 'needs strace and setpriv' : false;
  const probe = `
    const own = Number(process.env.OWN_CID);
    const vsock = await import('./src/vsock/index.ts');
    const { loadAddon } = await import('./src/vsock/addon.ts');
    const outcome = async (connect) => { try { await connect(); return 'CONNECTED'; } catch (e) { return e.code; } };
    console.log(JSON.stringify({
      localCid: vsock.localCid(),
      connectVsock: await outcome(() => vsock.connectVsock({ cid: own, port: 2222, timeoutMs: 1000 })),
      nativeConnect: await outcome(() => loadAddon().vsockConnect(own, 2222).socket.close()),
    }));`;

  it("refuses this machine's own CID in connectVsock and in the native vsockConnect, making no vsock connect()", { skip }, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vsock-strace-'));
    try {
      const trace = join(dir, 'trace');
      const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
      const result = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=connect', '-e', 'inject=connect:error=EPERM', ...nobody, process.execPath, '--import', 'tsx', '--input-type=module', '-e', probe], {
        cwd: root,
        env: { ...process.env, OWN_CID: String(localCid()) },
        encoding: 'utf8',
      });
      if (result.status !== 0 && /ptrace/i.test(result.stderr)) return t.skip(`strace cannot trace here: ${result.stderr.trim()}`);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { localCid: null, connectVsock: 'VSOCK_FORBIDDEN_CID', nativeConnect: 'FORBIDDEN_CID' });
      const vsockConnects = readFileSync(trace, 'utf8').split('\n').filter((line) => /connect\(.*AF_VSOCK/.test(line));
      assert.deepEqual(vsockConnects, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('finding the addon', () => {
  const probe = "const m = await import('./src/vsock/index.ts'); try { console.log(JSON.stringify({ cid: m.localCid() })); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }";
  const run = (addon: string) => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, HYPEMAN_VSOCK_ADDON: addon },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as { cid?: number; code?: string; message?: string };
  };

  it('loads the file HYPEMAN_VSOCK_ADDON names', () => {
    const built = new URL('../../src/vsock/native/build/Release/vsock.node', import.meta.url).pathname;
    assert.equal(run(built).cid, localCid());
  });

  it('says VSOCK_ADDON_MISSING, and how to build it, when that file does not exist', () => {
    const result = run('/nonexistent/vsock.node');
    assert.equal(result.code, 'VSOCK_ADDON_MISSING');
    assert.match(result.message ?? '', /HYPEMAN_VSOCK_ADDON names \/nonexistent\/vsock\.node, which does not exist; run `npm run build:native`/);
  });
});
