import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Symbolic links followed while resolving one path, as Linux's own limit (ELOOP). */
const MAX_SYMLINKS = 40;

/**
 * Paths inside the container's root file system, as the command will see them after the
 * helper's chroot. The agent reads a few files there itself (/etc/passwd, /etc/group); an
 * absolute symbolic link in the image (`/etc/passwd -> /usr/share/...`) must resolve inside
 * the root, not in the agent's own file system, so links are followed here by hand, with
 * `..` stopping at the root.
 */
export class ContainerRoot {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** The agent-side path of `inner` (absolute, as seen inside the root), links resolved. */
  async resolve(inner: string): Promise<string> {
    if (this.path === '/') return inner;
    const pending = inner.split('/').filter((p) => p !== '' && p !== '.');
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const candidate = join(this.path, ...resolved, part);
      let isLink: boolean;
      try {
        isLink = (await lstat(candidate)).isSymbolicLink();
      } catch {
        // Missing: the rest cannot resolve further; reading it will fail with ENOENT.
        return join(this.path, ...resolved, part, ...pending);
      }
      if (!isLink) {
        resolved.push(part);
        continue;
      }
      if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`too many symbolic links resolving ${inner} in ${this.path}`), { code: 'ELOOP' });
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    }
    return join(this.path, ...resolved);
  }

  /** A text file inside the root, or null when it does not exist. */
  async readTextFile(inner: string): Promise<string | null> {
    try {
      return await readFile(await this.resolve(inner), 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    }
  }
}
