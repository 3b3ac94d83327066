import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  AmbiguousInstanceNameError,
  CorruptRecordError,
  InstanceNotFoundError,
  InstanceNotRunningError,
  NoVsockConfiguredError,
} from './errors.js';
import { HYPERVISORS, type InstanceRecord, checkInstanceId } from './InstanceRecord.js';

export const METADATA_FILE = 'metadata.json';

/** Where the platform keeps its state unless told otherwise (`--data-dir`). */
export const DEFAULT_DATA_DIR = '/var/lib/hypeman';

/** CIDs 0–2 are the hypervisor, loopback and host; 2^32−1 is the wildcard: never a guest. */
const FIRST_GUEST_CID = 3;
const VMADDR_CID_ANY = 0xffffffff;

interface Cached {
  mtimeMs: number;
  size: number;
  record: InstanceRecord;
}

/**
 * Instance records in `<data-dir>/guests/<id>/metadata.json`, laid out like the original
 * platform's. Records written or changed on disk by anyone are seen on the next lookup
 * (a stat per lookup; the file is re-read only when it changed).
 *
 * The state a lookup reports is the recorded one, except that a record naming a process
 * (`pid`) that no longer exists is reported `stopped`: a dead VMM or agent sandbox must
 * not look running.
 */
export class InstanceRegistry {
  readonly dataDir: string;
  readonly #cache = new Map<string, Cached>();

  constructor(dataDir: string) {
    this.dataDir = dataDir;
  }

  get guestsDir(): string {
    return join(this.dataDir, 'guests');
  }

  guestDir(id: string): string {
    return join(this.guestsDir, checkInstanceId(id));
  }

  /** The record by id, else by name; undefined if there is none. A name two records share is an error. */
  async find(idOrName: string): Promise<InstanceRecord | undefined> {
    return this.findNow(idOrName);
  }

  /**
   * find(), synchronously: records are small local files, read only when their mtime or size
   * changed, so that the API server can decide an upgrade without leaving uWS's handler.
   */
  findNow(idOrName: string): InstanceRecord | undefined {
    checkInstanceId(idOrName);
    const byId = this.#read(idOrName);
    if (byId) return byId;
    const named = this.#listNow().filter((record) => record.name === idOrName);
    if (named.length > 1) throw new AmbiguousInstanceNameError(idOrName, named.map((r) => r.id));
    return named[0];
  }

  async get(idOrName: string): Promise<InstanceRecord> {
    const record = await this.find(idOrName);
    if (!record) throw new InstanceNotFoundError(idOrName);
    return record;
  }

  /**
   * The record of an instance that can run commands now: found, running, with a vsock
   * device. Throws INSTANCE_NOT_FOUND, INSTANCE_NOT_RUNNING or NO_VSOCK otherwise.
   */
  async getRunning(idOrName: string): Promise<InstanceRecord> {
    const record = await this.get(idOrName);
    if (record.state !== 'running') throw new InstanceNotRunningError(record.id, record.state);
    if (!record.vsock) throw new NoVsockConfiguredError(record.id);
    return record;
  }

  async list(): Promise<InstanceRecord[]> {
    return this.#listNow();
  }

  #listNow(): InstanceRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.guestsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const records: InstanceRecord[] = [];
    for (const name of names.sort()) {
      try {
        checkInstanceId(name);
        const record = this.#read(name);
        if (record) records.push(record);
      } catch {
        continue;
      }
    }
    return records;
  }

  /** Creates or replaces a record, atomically (readers never see a half-written file). */
  async put(record: InstanceRecord): Promise<void> {
    checkInstanceId(record.id);
    checkInstanceId(record.name);
    const dir = this.guestDir(record.id);
    await mkdir(dir, { recursive: true });
    const path = join(dir, METADATA_FILE);
    // Unique per write: two writers (processes, or calls in one) never share a temp file.
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const text = `${JSON.stringify(record, null, 2)}\n`;
    // What lookups would refuse is refused here, before anything is written.
    parseRecord(path, record.id, text, dir);
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, path);
  }

  /** Changes fields of a record in place. */
  async update(id: string, changes: Partial<Omit<InstanceRecord, 'id'>>): Promise<InstanceRecord> {
    const current = this.#read(id);
    if (!current) throw new InstanceNotFoundError(id);
    const next = { ...current, ...changes };
    await this.put(next);
    return next;
  }

  async remove(id: string): Promise<void> {
    await rm(this.guestDir(id), { recursive: true, force: true });
    this.#cache.delete(id);
  }

  #read(id: string): InstanceRecord | undefined {
    const path = join(this.guestDir(id), METADATA_FILE);
    let info;
    try {
      info = statSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        this.#cache.delete(id);
        return undefined;
      }
      throw err;
    }
    const cached = this.#cache.get(id);
    let record: InstanceRecord;
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) record = cached.record;
    else {
      record = parseRecord(path, id, readFileSync(path, 'utf8'), this.guestDir(id));
      this.#cache.set(id, { mtimeMs: info.mtimeMs, size: info.size, record });
    }
    return withLiveState(record);
  }
}

function parseRecord(path: string, id: string, text: string, guestDir: string): InstanceRecord {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    throw new CorruptRecordError(path, 'not JSON');
  }
  if (typeof o !== 'object' || o === null) throw new CorruptRecordError(path, 'not a JSON object');
  if (o.id !== id) throw new CorruptRecordError(path, `its id ${JSON.stringify(o.id)} does not match its directory`);
  if (typeof o.name !== 'string') throw new CorruptRecordError(path, 'no name');
  checkInstanceId(o.name);
  if (typeof o.state !== 'string') throw new CorruptRecordError(path, 'no state');
  if (!HYPERVISORS.includes(o.hypervisor as never)) throw new CorruptRecordError(path, `hypervisor must be one of ${HYPERVISORS.join(', ')}`);
  const record: InstanceRecord = {
    id,
    name: o.name,
    state: o.state,
    hypervisor: o.hypervisor as InstanceRecord['hypervisor'],
    createdAt: typeof o.createdAt === 'string' ? o.createdAt : '',
  };
  if (Number.isInteger(o.pid) && (o.pid as number) > 0) record.pid = o.pid as number;
  const vsock = o.vsock as Record<string, unknown> | undefined;
  if (vsock && typeof vsock.socket === 'string' && vsock.socket !== '') {
    // A relative socket path is relative to the instance's own directory.
    record.vsock = { socket: isAbsolute(vsock.socket) ? vsock.socket : join(guestDir, vsock.socket) };
  } else if (vsock && vsock.cid !== undefined) {
    const cid = vsock.cid as number;
    if (!Number.isInteger(cid) || cid < FIRST_GUEST_CID || cid >= VMADDR_CID_ANY) {
      throw new CorruptRecordError(path, `vsock.cid ${JSON.stringify(cid)} is not a guest CID (an integer from ${FIRST_GUEST_CID} to ${VMADDR_CID_ANY - 1})`);
    }
    record.vsock = { cid };
  }
  return record;
}

function withLiveState(record: InstanceRecord): InstanceRecord {
  if (record.state !== 'running' || record.pid === undefined) return record;
  try {
    process.kill(record.pid, 0);
    return record;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return record;
    return { ...record, state: 'stopped' };
  }
}
