import { FRAME_TYPE_NAMES, FrameType } from './constants.js';
import { EntryKind } from './copyConstants.js';
import { MalformedFrameError, UnexpectedFrameError } from './errors.js';
import type { Message } from './messages.js';

export type CopyOperation = 'copy-to' | 'copy-from' | 'stat';

function nameOf(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `0x${type.toString(16)}`;
}

/**
 * One direction of a copy stream (§12.7): entries in order, the root first; a file's data
 * between its Entry and its EntryEnd, exactly as many bytes as its size says; then the
 * end, whose counts must match what came. Throws the ProtocolError a violation deserves.
 */
export class EntryStream {
  readonly #what: string;
  #entries = 0;
  #bytes = 0;
  #rootIsDirectory = false;
  #inFile = false;
  #fileSize: number | null = null;
  #fileBytes = 0;
  #ended = false;

  constructor(what: 'upload' | 'download') {
    this.#what = what;
  }

  /** Entries begun so far. */
  get entries(): number {
    return this.#entries;
  }

  /** Data bytes so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Between a file's Entry and its EntryEnd. */
  get inFile(): boolean {
    return this.#inFile;
  }

  get ended(): boolean {
    return this.#ended;
  }

  entry(kind: number, size: number | null, pathLength: number): void {
    this.#open('an entry');
    if (this.#entries === 0) {
      if (pathLength !== 0) throw new UnexpectedFrameError(`the first entry of the ${this.#what} must be its root, with an empty path`);
      this.#rootIsDirectory = kind === EntryKind.Directory;
    } else {
      if (pathLength === 0) throw new UnexpectedFrameError(`the ${this.#what} has one root: only its first entry has an empty path`);
      if (!this.#rootIsDirectory) throw new UnexpectedFrameError(`the root of the ${this.#what} is not a directory: nothing can be below it`);
    }
    this.#entries++;
    if (kind === EntryKind.File) {
      this.#inFile = true;
      this.#fileSize = size;
      this.#fileBytes = 0;
    }
  }

  data(length: number): void {
    if (!this.#inFile) throw new UnexpectedFrameError(`data in the ${this.#what} outside a file entry`);
    this.#fileBytes += length;
    if (this.#fileSize !== null && this.#fileBytes > this.#fileSize) {
      throw new MalformedFrameError(`a file of the ${this.#what} has more data than its entry's size of ${this.#fileSize} bytes`);
    }
    this.#bytes += length;
  }

  entryEnd(): void {
    if (!this.#inFile) throw new UnexpectedFrameError(`an EntryEnd in the ${this.#what} outside a file entry`);
    if (this.#fileSize !== null && this.#fileBytes !== this.#fileSize) {
      throw new MalformedFrameError(`a file of the ${this.#what} ended after ${this.#fileBytes} of its ${this.#fileSize} bytes`);
    }
    this.#inFile = false;
  }

  end(entries: number, bytes: number): void {
    this.#open('the end');
    if (entries !== this.#entries || bytes !== this.#bytes) {
      throw new MalformedFrameError(`the ${this.#what} ended claiming ${entries} entries and ${bytes} bytes, but ${this.#entries} and ${this.#bytes} came`);
    }
    this.#ended = true;
  }

  #open(what: string): void {
    if (this.#ended) throw new UnexpectedFrameError(`${what} after the end of the ${this.#what}`);
    if (this.#inFile) throw new UnexpectedFrameError(`${what} before the EntryEnd of the file in progress in the ${this.#what}`);
  }
}

/**
 * The state machine of a copy operation (§12.2): one per connection whose first frame is
 * CopyTo, CopyFrom or Stat, shared by client, relay and agent as ExecSessionState is. The
 * methods take parsed messages (entries are checked by their kind, size and path) and
 * return true when the frame is to be processed, false when it arrived after the other side
 * ended and is to be dropped; they throw the ProtocolError a violation deserves.
 */
export class CopySessionState {
  readonly upload = new EntryStream('upload');
  readonly download = new EntryStream('download');
  #operation: CopyOperation | null = null;
  #clientEnded = false;
  #agentEnded = false;
  #totalsAllowed = true;

  get operation(): CopyOperation | null {
    return this.#operation;
  }

  /** The agent sent its last frame (a result, the download's end, or Error), or the client its Error. */
  get ended(): boolean {
    return this.#agentEnded || this.#clientEnded;
  }

  clientFrame(m: Message): boolean {
    if (this.#clientEnded) throw new UnexpectedFrameError(`client sent ${nameOf(m.type)} after its Error frame`);
    if (this.#agentEnded) return false;
    if (m.type === FrameType.Error) {
      this.#clientEnded = true;
      return true;
    }
    if (this.#operation === null) {
      if (m.type === FrameType.CopyTo) this.#operation = 'copy-to';
      else if (m.type === FrameType.CopyFrom) this.#operation = 'copy-from';
      else if (m.type === FrameType.Stat) this.#operation = 'stat';
      else throw new UnexpectedFrameError(`the first frame of a copy must be CopyTo, CopyFrom or Stat, not ${nameOf(m.type)}`);
      return true;
    }
    switch (m.type) {
      case FrameType.Ping:
      case FrameType.Pong:
        return true;
      case FrameType.UploadEntry:
        this.#uploading(m.type);
        this.upload.entry(m.kind, m.size, m.path.length);
        return true;
      case FrameType.UploadData:
        this.#uploading(m.type);
        this.upload.data(m.data.length);
        return true;
      case FrameType.UploadEntryEnd:
        this.#uploading(m.type);
        this.upload.entryEnd();
        return true;
      case FrameType.UploadEnd:
        this.#uploading(m.type);
        this.upload.end(m.entries, m.bytes);
        return true;
      default:
        throw new UnexpectedFrameError(`a client may not send ${nameOf(m.type)} in a ${this.#operation} operation`);
    }
  }

  agentFrame(m: Message): boolean {
    if (this.#agentEnded) throw new UnexpectedFrameError(`agent sent ${nameOf(m.type)} after the operation ended`);
    if (m.type === FrameType.Error) {
      this.#agentEnded = true;
      return !this.#clientEnded;
    }
    if (this.#clientEnded) return false;
    if (this.#operation === null) throw new UnexpectedFrameError(`the agent sent ${nameOf(m.type)} before the client's request`);
    switch (m.type) {
      case FrameType.Ping:
      case FrameType.Pong:
        return true;
      case FrameType.StatResult:
        this.#expect('stat', m.type);
        this.#agentEnded = true;
        return true;
      case FrameType.CopyResult:
        this.#expect('copy-to', m.type);
        if (!this.upload.ended) throw new UnexpectedFrameError('the agent sent CopyResult before the upload ended');
        this.#agentEnded = true;
        return true;
      case FrameType.DownloadTotals:
        this.#expect('copy-from', m.type);
        if (!this.#totalsAllowed) throw new UnexpectedFrameError('DownloadTotals comes once, before the first entry');
        this.#totalsAllowed = false;
        return true;
      case FrameType.DownloadEntry:
        this.#expect('copy-from', m.type);
        this.#totalsAllowed = false;
        this.download.entry(m.kind, m.size, m.path.length);
        return true;
      case FrameType.DownloadData:
        this.#expect('copy-from', m.type);
        this.download.data(m.data.length);
        return true;
      case FrameType.DownloadEntryEnd:
        this.#expect('copy-from', m.type);
        this.download.entryEnd();
        return true;
      case FrameType.DownloadEnd:
        this.#expect('copy-from', m.type);
        this.download.end(m.entries, m.bytes);
        this.#agentEnded = true;
        return true;
      default:
        throw new UnexpectedFrameError(`an agent may not send ${nameOf(m.type)} in a ${this.#operation} operation`);
    }
  }

  #uploading(type: number): void {
    if (this.#operation !== 'copy-to') throw new UnexpectedFrameError(`a client may not send ${nameOf(type)} in a ${this.#operation} operation`);
  }

  #expect(operation: CopyOperation, type: number): void {
    if (this.#operation !== operation) throw new UnexpectedFrameError(`an agent may not send ${nameOf(type)} in a ${this.#operation} operation`);
  }
}
