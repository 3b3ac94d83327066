/**
 * A default root for hosts without busybox (a fresh Debian has none): the host's own programs
 * and libraries, bind-mounted read-only by the sandbox (/usr, and /bin, /lib… where they are
 * directories rather than the links of a merged-/usr system), in the skeleton every default
 * root has — its own /etc/passwd and /etc/group, homes, /tmp — so commands see this root's
 * users and files, never the host's /etc or /home. The host's /etc/alternatives (where
 * Debian's command links point) is bound read-only too, and its loader cache is copied.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { copyFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureRootSkeleton } from './RootSkeleton.js';

/** Top-level directories of the host's userland, merged into /usr on current distributions. */
const USERLAND = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
/** Read-only binds always made (when the host has them). */
const ALWAYS_BOUND = ['/usr', '/etc/alternatives'];
/** Copied once into the root's /etc. */
const COPIED = ['/etc/ld.so.cache', '/etc/nsswitch.conf'];

/** Prepares `root`; returns the host directories the sandbox must bind read-only at the same paths. */
export async function ensureHostRoot(root: string, host = '/'): Promise<string[]> {
  const binds = ALWAYS_BOUND.filter((dir) => existsSync(join(host, dir)));
  const links: Array<[string, string]> = [];
  for (const name of USERLAND) {
    const onHost = join(host, name);
    if (!existsSync(onHost)) continue;
    if (lstatSync(onHost).isSymbolicLink()) links.push([name, readlinkSync(onHost)]);
    else binds.push(`/${name}`);
  }
  // The bind mounts' points are directories of the skeleton; the links are made beside them.
  await ensureRootSkeleton(root, binds.map((dir) => dir.slice(1)));
  for (const [name, target] of links) {
    const inRoot = join(root, name);
    if (!existsSync(inRoot) && !isLink(inRoot)) await symlink(target, inRoot);
  }
  for (const file of COPIED) {
    if (existsSync(join(host, file)) && !existsSync(join(root, file))) await copyFile(join(host, file), join(root, file));
  }
  return binds;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
