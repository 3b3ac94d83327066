// grpc-js dialing through a hybrid vsock socket, as the original's Go client does with a
// context dialer: grpc-js connects to the Unix socket (`unix:<vsock socket>`), then these
// credentials' connector writes `CONNECT <port>\n` and reads `OK <n>\n` on that socket
// before HTTP/2 starts. Insecure otherwise, as the original's. Benchmark only.
import grpc from '@grpc/grpc-js';
import type { Socket } from 'node:net';

type Connector = ReturnType<grpc.ChannelCredentials['_createSecureConnector']>;

const MAX_ANSWER = 64;

export class HandshakeRefusedError extends Error {
  readonly code = 'BENCH_GRPC_HANDSHAKE';
}

/** `CONNECT port` on a connected socket; bytes after the answer's newline are put back. */
function handshake(socket: Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let answer = Buffer.alloc(0);
    const done = (err?: Error) => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = () => done(new HandshakeRefusedError(`the vsock socket closed without answering CONNECT ${port}: is the gRPC agent routed?`));
    const onData = (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      const nl = answer.indexOf(0x0a);
      if (nl < 0) {
        if (answer.length > MAX_ANSWER) done(new HandshakeRefusedError('the vsock socket answered CONNECT with an over-long line'));
        return;
      }
      socket.pause();
      if (nl + 1 < answer.length) socket.unshift(answer.subarray(nl + 1));
      const line = answer.subarray(0, nl).toString('latin1');
      done(/^OK \d+$/.test(line) ? undefined : new HandshakeRefusedError(`the vsock socket answered CONNECT with ${JSON.stringify(line)}`));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`CONNECT ${port}\n`);
  });
}

export class HybridVsockCredentials extends grpc.ChannelCredentials {
  readonly #port: number;

  constructor(port: number) {
    super();
    this.#port = port;
  }

  override compose(): grpc.ChannelCredentials {
    throw new Error('hybrid vsock credentials are insecure and cannot be composed');
  }

  override _isSecure(): boolean {
    return false;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other instanceof HybridVsockCredentials && other.#port === this.#port;
  }

  override _createSecureConnector(): Connector {
    const port = this.#port;
    const callCredentials = grpc.credentials.createEmpty();
    return {
      async connect(socket) {
        await handshake(socket as Socket, port);
        return { socket, secure: false };
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials,
      destroy() {},
    };
  }
}
