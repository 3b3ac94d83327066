// The runtime's libraries are found from the binaries themselves; the loader's own
// `--list` is the referee.
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InitrdError, readElfInfo, readLdSoCache, resolveRuntimeDependencies } from '../../src/host/initrd/index.js';
import { exec, removeTree, temporaryDirectory } from './helpers.js';

const ptyNode = join(createRequire(import.meta.url).resolve('node-pty/package.json'), '..', 'build', 'Release', 'pty.node');
const busybox = realpathSync((await exec('sh', ['-c', 'command -v busybox'])).stdout.trim());

/** What the loader itself resolves: name → real file (vdso and the loader line excluded). */
async function loaderList(interpreter: string, binary: string): Promise<Map<string, string>> {
  const { stdout } = await exec(interpreter, ['--list', binary]);
  const found = new Map<string, string>();
  for (const match of stdout.matchAll(/^\s*(\S+) => (\/\S+)/gm)) found.set(match[1], realpathSync(match[2]));
  return found;
}

describe('ElfDependencies', () => {
  const dir = temporaryDirectory('elf');
  after(() => removeTree(dir));

  it('reads PT_INTERP and DT_NEEDED of the node binary', async () => {
    const info = await readElfInfo(process.execPath);
    assert.equal(info.elfClass, 64);
    assert.ok(info.interpreter?.startsWith('/'), 'node is dynamically linked');
    assert.ok(info.needed.includes('libc.so.6'));
  });

  it('sees that busybox-static needs nothing', async () => {
    const info = await readElfInfo(busybox);
    assert.equal(info.interpreter, undefined);
    assert.deepEqual(info.needed, []);
  });

  it('finds exactly what the loader finds for node and pty.node', async () => {
    const deps = await resolveRuntimeDependencies([process.execPath, ptyNode]);
    const interpreter = (await readElfInfo(process.execPath)).interpreter!;
    assert.equal(deps.interpreter.realPath, realpathSync(interpreter));
    const expected = new Map([...(await loaderList(interpreter, process.execPath)), ...(await loaderList(interpreter, ptyNode))]);
    const actual = new Map(deps.libraries.map((l) => [l.name, l.realPath]));
    assert.deepEqual(actual, expected);
    for (const lib of deps.libraries) assert.notEqual(lib.realPath, deps.interpreter.realPath);
  });

  it('reads the loader cache, baseline entries first', async () => {
    const cache = await readLdSoCache('/etc/ld.so.cache');
    assert.ok(cache.get('libc.so.6')?.length, 'libc.so.6 is in the cache');
    assert.equal((await readLdSoCache(join(dir, 'no-such-cache'))).size, 0);
  });

  it('says which library is missing and where it looked', async () => {
    await assert.rejects(
      resolveRuntimeDependencies([process.execPath], { ldSoCache: join(dir, 'no-such-cache'), defaultDirectories: [dir] }),
      (e: unknown) => e instanceof InitrdError && e.code === 'ELF_LIBRARY_NOT_FOUND' && e.message.includes(dir),
    );
  });

  it('refuses a file that is not ELF, and a static binary as the runtime', async () => {
    const text = join(dir, 'not-elf');
    await writeFile(text, 'just text, long enough to fill an ELF header of sixty-four bytes...');
    await assert.rejects(readElfInfo(text), (e: unknown) => e instanceof InitrdError && e.code === 'ELF_INVALID');
    await assert.rejects(resolveRuntimeDependencies([busybox]), (e: unknown) => e instanceof InitrdError && e.code === 'ELF_INVALID');
  });
});
