import type { ContainerRoot } from './ContainerRoot.js';
import { SessionError } from '../errors.js';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** Who a command runs as: what the helper passes to setgroups/setgid/setuid. */
export interface Credentials {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups, the primary group first (as initgroups(3) sets them). */
  readonly groups: readonly number[];
  /** From /etc/passwd, else `/` (spec §9.2, §9.4). */
  readonly home: string;
  /** The passwd name, or null for a uid without an entry. */
  readonly name: string | null;
}

/** Largest uid/gid; 2^32 − 1 is (uid_t)-1, "no change", for set*id(2). */
const MAX_ID = 0xfffffffe;

function parseId(text: string): number | null {
  if (!/^\d{1,10}$/.test(text)) return null;
  const n = Number(text);
  return n <= MAX_ID ? n : null;
}

/** Lines of a colon-separated database, without comments, blank lines and NIS (+/-) entries. */
function records(text: string, minFields: number): string[][] {
  const out: string[][] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    if (fields.length >= minFields && fields[0] !== '') out.push(fields);
  }
  return out;
}

/** /etc/passwd: `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of records(text, 7)) {
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (uid !== null && gid !== null) out.push({ name: f[0], uid, gid, home: f[5] });
  }
  return out;
}

/** /etc/group: `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of records(text, 4)) {
    const gid = parseId(f[2]);
    if (gid !== null) out.push({ name: f[0], gid, members: f[3].split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return out;
}

/** The database last parsed for each root, with the texts it was parsed from. */
const lastLoaded = new WeakMap<ContainerRoot, { passwd: string; group: string; database: UserDatabase }>();

/**
 * The container's users and groups (spec §9.4), from its own /etc/passwd and /etc/group,
 * looked at on every session: images change them (useradd in a running container). A
 * missing file is an empty database: numeric ids still work.
 */
export class UserDatabase {
  readonly #passwd: readonly PasswdEntry[];
  readonly #groups: readonly GroupEntry[];

  constructor(passwd: readonly PasswdEntry[], groups: readonly GroupEntry[]) {
    this.#passwd = passwd;
    this.#groups = groups;
  }

  static load(root: ContainerRoot): UserDatabase {
    const passwd = root.readTextFile('/etc/passwd') ?? '';
    const group = root.readTextFile('/etc/group') ?? '';
    const last = lastLoaded.get(root);
    if (last !== undefined && last.passwd === passwd && last.group === group) return last.database;
    const database = new UserDatabase(parsePasswd(passwd), parseGroup(group));
    lastLoaded.set(root, { passwd, group, database });
    return database;
  }

  /**
   * Resolves ExecStart's user field: `name`, `uid`, `name:group` or `uid:gid` (either part a
   * name or a number); '' means `defaultUid` (the agent's own user).
   */
  resolve(spec: string, defaultUid: number): Credentials {
    const colon = spec.indexOf(':');
    const userPart = spec === '' ? String(defaultUid) : colon < 0 ? spec : spec.slice(0, colon);
    const groupPart = colon < 0 ? null : spec.slice(colon + 1);
    if (userPart === '' || groupPart === '') {
      throw new SessionError('INVALID_REQUEST', `user ${JSON.stringify(spec)} must be name, uid, name:group or uid:gid`);
    }

    const numericUid = parseId(userPart);
    const entry =
      numericUid !== null ? this.#passwd.find((p) => p.uid === numericUid) : this.#passwd.find((p) => p.name === userPart);
    if (entry === undefined && numericUid === null) {
      throw new SessionError(
        'USER_NOT_FOUND',
        `user ${JSON.stringify(userPart)} is not in the container's /etc/passwd; give an existing user name or a numeric uid`,
      );
    }
    const uid = entry?.uid ?? numericUid!;
    const gid = groupPart === null ? (entry?.gid ?? 0) : this.#resolveGroup(groupPart);
    const groups = [gid];
    if (entry !== undefined) {
      for (const g of this.#groups) if (g.members.includes(entry.name) && !groups.includes(g.gid)) groups.push(g.gid);
    }
    return { uid, gid, groups, home: entry?.home || '/', name: entry?.name ?? null };
  }

  #resolveGroup(text: string): number {
    const numeric = parseId(text);
    if (numeric !== null) return numeric;
    const group = this.#groups.find((g) => g.name === text);
    if (group === undefined) {
      throw new SessionError(
        'USER_NOT_FOUND',
        `group ${JSON.stringify(text)} is not in the container's /etc/group; give an existing group name or a numeric gid`,
      );
    }
    return group.gid;
  }
}
