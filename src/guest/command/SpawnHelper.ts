import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentStartError } from '../errors.js';
import type { Credentials } from '../container/UserDatabase.js';

/** File name of the static exec helper built from src/guest/native/spawn-helper.c. */
export const SPAWN_HELPER_NAME = 'hypeman-exec-spawn';

/** How one command is to be started by the helper. */
export interface SpawnPlan {
  /** The container root, chrooted into unless it is `/`. */
  readonly root: string;
  readonly argv: readonly string[];
  readonly cwd: string;
  /** null: keep the agent's own user and groups (an agent not running as root). */
  readonly credentials: Credentials | null;
  /** PWD for the command, or null to remove the one node-pty sets. */
  readonly pwd: string | null;
  readonly tty: boolean;
}

/** The helper's command line for `plan` (the protocol is documented in spawn-helper.c). */
export function spawnHelperArguments(plan: SpawnPlan): string[] {
  const args = ['--root', plan.root, '--cwd', plan.cwd];
  if (plan.credentials !== null) {
    const c = plan.credentials;
    args.push('--uid', String(c.uid), '--gid', String(c.gid), '--groups', c.groups.join(','));
  }
  if (plan.pwd !== null) args.push('--pwd', plan.pwd);
  if (plan.tty) args.push('--tty');
  args.push('--', ...plan.argv);
  return args;
}

/** Nearest ancestor of `start` holding a package.json: the checkout or the installed package. */
function packageRoot(start: string): string | null {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Finds the helper: `explicit` (--spawn-helper) if given; else beside the agent's script or
 * in a bin/ directory beside it (how the guest image ships it); else the checkout's
 * build/guest/ (where `npm install` builds it).
 */
export function locateSpawnHelper(explicit: string | undefined, mainScript: string | undefined = process.argv[1]): string {
  const candidates: string[] = [];
  if (explicit !== undefined) candidates.push(resolve(explicit));
  else {
    if (mainScript !== undefined) {
      const dir = dirname(resolve(mainScript));
      candidates.push(join(dir, SPAWN_HELPER_NAME), join(dir, 'bin', SPAWN_HELPER_NAME));
    }
    const root = packageRoot(dirname(fileURLToPath(import.meta.url)));
    if (root !== null) candidates.push(join(root, 'build', 'guest', SPAWN_HELPER_NAME));
  }
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Try the next place.
    }
  }
  throw new AgentStartError(
    'SPAWN_HELPER_MISSING',
    `the exec helper ${SPAWN_HELPER_NAME} is not at ${candidates.join(' or ')}; build it with \`sh src/guest/native/build.sh\` (npm install runs it) or pass --spawn-helper PATH`,
  );
}
