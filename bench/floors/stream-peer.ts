// The far end of a stream floor, in its own Node process: listens on a Unix socket or a
// loopback `ws` server, and on the first connection either sends BYTES or reads BYTES.
//   node dist/bench/floors/stream-peer.js unix|ws send|receive BYTES [SOCKET]
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { zeros } from '../exec/throughput.js';

const [carrier, direction, bytesArg, socketPath] = process.argv.slice(2);
const bytes = Number(bytesArg);

if (carrier === 'unix') {
  const server = createServer((socket) => {
    if (direction === 'send') void pipeline(Readable.from(zeros(bytes)), socket);
    else socket.resume().on('end', () => socket.end());
  });
  server.listen(socketPath, () => process.stdout.write('peer listening\n'));
} else {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
    process.stdout.write(`peer listening on ${(wss.address() as { port: number }).port}\n`);
  });
  wss.on('connection', (ws) => {
    if (direction === 'send') {
      void pipeline(Readable.from(zeros(bytes)), createWebSocketStream(ws));
    } else {
      let got = 0;
      ws.on('message', (data: Buffer) => {
        got += data.length;
        if (got >= bytes) ws.close();
      });
    }
  });
}
process.once('SIGTERM', () => process.exit(0));
