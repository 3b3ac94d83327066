// The staleness hash: the image is rebuilt only when the agent, /init or the runtime changed.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureImage, hashFileOf, type ImageBuildOptions } from '../../src/host/initrd/index.js';
import { ptyAddon, removeTree, STAND_IN_AGENT, temporaryDirectory, writeStandInAgent } from './helpers.js';

describe('ensureImage', () => {
  const dir = temporaryDirectory('cache');
  const out = join(dir, 'initrd.cpio.gz');
  let options: ImageBuildOptions;

  before(async () => {
    // gzip level 1: this file tests when builds happen, not how small they are.
    options = { agentEntry: await writeStandInAgent(dir), vsockAddon: null, spawnHelper: null, gzipLevel: 1 };
  });
  after(() => removeTree(dir));

  it('builds when there is no image yet, and records its hash beside it', async () => {
    const result = await ensureImage(out, options);
    assert.equal(result.rebuilt, true);
    assert.equal(readFileSync(hashFileOf(out), 'utf8').trim(), result.hash);
  });

  it('does not rebuild when nothing changed', async () => {
    const before = statSync(out);
    const result = await ensureImage(out, options);
    assert.equal(result.rebuilt, false);
    assert.equal(statSync(out).mtimeMs, before.mtimeMs);
    assert.equal(statSync(out).ino, before.ino, 'the file was not replaced');
  });

  it('rebuilds when the agent changes', async () => {
    const previous = readFileSync(hashFileOf(out), 'utf8').trim();
    await writeFile(options.agentEntry!, `${STAND_IN_AGENT}\nconsole.error('changed');\n`);
    const result = await ensureImage(out, options);
    assert.equal(result.rebuilt, true);
    assert.notEqual(result.hash, previous);
    assert.equal((await ensureImage(out, options)).rebuilt, false);
  });

  it('rebuilds when /init changes (another agent port)', async () => {
    const result = await ensureImage(out, { ...options, agentPort: 2223 });
    assert.equal(result.rebuilt, true);
    assert.equal((await ensureImage(out, { ...options, agentPort: 2223 })).rebuilt, false);
  });

  it('rebuilds when the runtime changes (a native addon added)', async () => {
    const result = await ensureImage(out, { ...options, agentPort: 2223, vsockAddon: ptyAddon });
    assert.equal(result.rebuilt, true);
  });

  it('rebuilds when the image or its hash file is missing', async () => {
    await rm(out);
    assert.equal((await ensureImage(out, options)).rebuilt, true);
    await rm(hashFileOf(out));
    assert.equal((await ensureImage(out, options)).rebuilt, true);
    assert.equal((await ensureImage(out, options)).rebuilt, false);
  });
});
