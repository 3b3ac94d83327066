import WebSocket from 'ws';
import {
  DEFAULT_MAX_PAYLOAD,
  FrameJoiner,
  FrameType,
  HEADER_SIZE,
  INITIAL_STDIN_CREDIT,
  ProtocolError,
  type RawFrame,
  WEBSOCKET_SUBPROTOCOL,
  decodeSingleFrame,
  errorOfCloseCode,
  forEachFrame,
  frameTypeOf,
  parseFrame,
} from '../../wire/index.js';
import {
  ApiRefusedError,
  ApiUnreachableError,
  ClientProtocolError,
  ConnectionLostError,
  InvalidApiUrlError,
  RemoteExecError,
  SessionAbortedError,
} from './errors.js';
import { FrameTransportBase } from './FrameTransport.js';

/** Stop sending once this much is queued in the WebSocket, resume below half. */
const SEND_HIGH_WATER = 1024 * 1024;

export interface WebSocketConnectOptions {
  /** JWT sent as `Authorization: Bearer`. */
  token?: string;
  /** Also offered as `bearer.<token>` (what browsers must do); off by default. */
  tokenAsSubprotocol?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  maxPayload?: number;
  /** Give up on the opening handshake after this long (default 30 s): ApiUnreachableError. */
  handshakeTimeoutMs?: number;
  /**
   * Messages of several frames (/cp, spec §12.10.1): small frames sent in one tick travel
   * joined, and a message may bring several. Off: one frame per message (/exec).
   */
  joinFrames?: boolean;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * Frames over the API server's WebSocket, framed dialect (spec §8.1): one frame per binary
 * message, or joined frames on /cp (§12.10.1). StdinCredit frames (§8.1.1) are consumed
 * here and exposed as `stdinCredit`.
 */
export class WebSocketFrameTransport extends FrameTransportBase {
  readonly framesInOneBuffer = true;
  #credit = INITIAL_STDIN_CREDIT;
  readonly #ws: WebSocket;
  readonly #maxPayload: number;
  /** Small frames waiting to go as one message (joinFrames), sent at the end of the tick. */
  readonly #joiner: FrameJoiner | null;
  #flushScheduled = false;
  #needDrain = false;

  private constructor(ws: WebSocket, maxPayload: number, joinFrames: boolean) {
    super();
    this.#ws = ws;
    this.#maxPayload = maxPayload;
    this.#joiner = joinFrames ? new FrameJoiner((message) => this.#sendMessage(message)) : null;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#message(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => this.finish(closeError(code, reason.toString())));
    ws.on('error', (err) => this.finish(new ConnectionLostError(err.message, err)));
    // Hold further messages until a session is attached (those already read are kept).
    ws.pause();
  }

  protected override attached(): void {
    this.#ws.resume();
  }

  /** Opens `GET <url>` with the framed subprotocol; rejects with the server's refusal. */
  static connect(url: string, options: WebSocketConnectOptions = {}): Promise<WebSocketFrameTransport> {
    const headers: Record<string, string> = { ...options.headers };
    const protocols = [WEBSOCKET_SUBPROTOCOL];
    if (options.token) {
      if (options.tokenAsSubprotocol) protocols.push(`bearer.${options.token}`);
      else headers.authorization = `Bearer ${options.token}`;
    }
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new SessionAbortedError(options.signal?.reason, 'connecting'));
        return;
      }
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, protocols, {
          headers,
          maxPayload: HEADER_SIZE + maxPayload,
          perMessageDeflate: false,
          handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
        });
      } catch (err) {
        reject(new InvalidApiUrlError(url, err));
        return;
      }
      ws.binaryType = 'nodebuffer';
      const onAbort = () => {
        settle();
        // ws reports a handshake cut short as an error: nobody needs to hear it.
        ws.on('error', () => undefined);
        ws.terminate();
        reject(new SessionAbortedError(options.signal?.reason, 'connecting'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => {
        options.signal?.removeEventListener('abort', onAbort);
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        ws.removeAllListeners('open');
      };
      ws.once('open', () => {
        settle();
        if (ws.protocol !== WEBSOCKET_SUBPROTOCOL) {
          ws.terminate();
          reject(new ClientProtocolError(`the server did not select the ${WEBSOCKET_SUBPROTOCOL} subprotocol; is ${url} a hypeman-exec API?`));
          return;
        }
        resolve(new WebSocketFrameTransport(ws, maxPayload, options.joinFrames ?? false));
      });
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c.length + body.length < 65536 ? c : ''));
        res.on('end', () => {
          settle();
          // ws reports aborting a handshake as an error: nobody needs to hear it.
          ws.on('error', () => undefined);
          req.destroy();
          reject(ApiRefusedError.fromResponse(res.statusCode ?? 0, body));
        });
      });
      ws.once('error', (err) => {
        settle();
        reject(new ApiUnreachableError(url, err));
      });
    });
  }

  get stdinCredit(): number {
    return this.#credit;
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    // Credit pays for the client's data frames however they were framed: Stdin, and an
    // upload's file bytes (§8.1.1, §12.10).
    const type = frameTypeOf(frame);
    if (type === FrameType.Stdin || type === FrameType.UploadData) this.#credit -= frame.length - HEADER_SIZE;
    if (this.#joiner === null) return this.#sendMessage(frame);
    this.#joiner.frame(frame);
    return this.#joined();
  }

  sendData(header: Uint8Array, payload: Uint8Array): boolean {
    if (this.closed) return false;
    // Credit pays for the client's data frames: Stdin, and an upload's file bytes (§8.1.1, §12.10).
    const type = frameTypeOf(header);
    if (type === FrameType.Stdin || type === FrameType.UploadData) this.#credit -= payload.length;
    if (this.#joiner !== null) {
      this.#joiner.data(header, payload);
      return this.#joined();
    }
    // One message per frame: the payload must be joined to its header here.
    const frame = new Uint8Array(header.length + payload.length);
    frame.set(header, 0);
    frame.set(payload, header.length);
    return this.#sendMessage(frame);
  }

  #sendMessage(message: Uint8Array): boolean {
    this.#ws.send(message, { binary: true }, () => this.#sent());
    return this.#backpressure();
  }

  /** After a joined frame: what waits goes at the end of this tick, with whatever follows it. */
  #joined(): boolean {
    if (this.#joiner!.pending > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        if (!this.closed) this.#joiner!.flush();
      });
    }
    return this.#backpressure();
  }

  pauseReading(): void {
    this.#ws.pause();
  }

  resumeReading(): void {
    if (!this.closed) this.#ws.resume();
  }

  close(): void {
    if (this.closed) return;
    this.#joiner?.flush();
    this.#ws.close(1000);
  }

  destroy(err?: Error): void {
    if (this.closed) return;
    this.finish(err);
    this.#ws.terminate();
  }

  #backpressure(): boolean {
    if (this.#ws.bufferedAmount <= SEND_HIGH_WATER) return true;
    this.#needDrain = true;
    return false;
  }

  #sent(): void {
    if (this.#needDrain && this.#ws.bufferedAmount < SEND_HIGH_WATER / 2) {
      this.#needDrain = false;
      this.drained();
    }
  }

  #message(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) {
      this.destroy(new ClientProtocolError('the server sent a text message in the framed dialect'));
      return;
    }
    const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // Every frame of a message is checked before any is delivered.
    const frames: Array<RawFrame | null> = [];
    try {
      if (this.#joiner !== null) forEachFrame(view, this.#maxPayload, (frame) => frames.push(frame));
      else frames.push(decodeSingleFrame(view, this.#maxPayload));
    } catch (err) {
      this.destroy(new ClientProtocolError(`the server sent an invalid frame: ${(err as ProtocolError).message}`, err));
      return;
    }
    for (const frame of frames) this.#frame(frame);
  }

  #frame(frame: RawFrame | null): void {
    if (frame === null || this.closed) return;
    if (frame.type === FrameType.StdinCredit) {
      const credit = parseFrame(frame);
      if (credit.type === FrameType.StdinCredit) this.#credit += credit.bytes;
      this.credited();
      return;
    }
    this.deliver(frame);
  }
}

/**
 * How a close ends the session when it came before Exit or Error (after them it is ignored):
 * 4000 + n names the Error n the server ended with (§8.1), even if its frame never arrived;
 * anything else is a lost connection. 1000 is the normal close after Exit.
 */
function closeError(code: number, reason: string): Error | undefined {
  const error = errorOfCloseCode(code);
  if (error) return new RemoteExecError(error.name, error.wireCode, reason || `the server ended the session with ${error.name}`);
  if (code === 1000) return undefined;
  return new ConnectionLostError(`WebSocket closed with ${code}${reason ? ` (${reason})` : ''}`);
}
