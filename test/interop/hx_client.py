#!/usr/bin/env python3
"""A hypeman-exec client written from spec/PROTOCOL.md alone, in another language.

It proves the spec is enough to interoperate with the agent (issue 2's acceptance): it
speaks the hybrid vsock handshake (section 7.2) and the frames of section 4, nothing else.
Standard library only.

Usage: hx_client.py --socket PATH [--port 2222] [--tty] [--rows R --cols C]
                    [--env NAME=VALUE]... [--cwd DIR] [--user U] [--timeout S]
                    [--version V] [--signal-after-output N] [--no-stdin] -- ARGV...

Stdin is forwarded (Stdin frames of at most 64 KiB, StdinClose at EOF); Stdout and Stderr
frames go to this process's stdout and stderr. Exits with the Exit record's code. An Error
frame prints "error <NAME> <code>: <message>" on stderr and exits 255; so does any
protocol violation by the peer.
"""
import argparse
import os
import socket
import struct
import sys
import threading

# Section 2.2: frame types.
EXEC_START, STDIN, STDIN_CLOSE, WINDOW_SIZE, SIGNAL = 0x01, 0x02, 0x03, 0x04, 0x05
STARTED, STDOUT, STDERR, EXIT, ERROR, PING, PONG = 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22
MAX_PAYLOAD = 1 << 20  # section 2.3
# Section 5: the names, for messages only.
ERROR_NAMES = {1: "MALFORMED_FRAME", 2: "FRAME_TOO_LARGE", 3: "UNKNOWN_FRAME_TYPE", 4: "UNEXPECTED_FRAME",
               5: "UNSUPPORTED_VERSION", 16: "INVALID_REQUEST", 17: "CWD_NOT_FOUND", 18: "USER_NOT_FOUND",
               19: "SPAWN_FAILED", 32: "INTERNAL_ERROR", 33: "SHUTTING_DOWN", 34: "TOO_MANY_SESSIONS"}


class PeerError(Exception):
    pass


def frame(ftype, payload=b""):
    return struct.pack(">IB", len(payload), ftype) + payload


def field(tag, value):
    return struct.pack(">BI", tag, len(value)) + value


def exec_start(args):
    """Section 4.1: version, then tag-length-value fields in ascending tag order."""
    out = [struct.pack(">H", args.version)]
    out += [field(0x01, a.encode("utf-8")) for a in args.argv]
    out += [field(0x02, e.encode("utf-8")) for e in args.env]
    if args.cwd:
        out.append(field(0x03, args.cwd.encode("utf-8")))
    if args.user:
        out.append(field(0x04, args.user.encode("utf-8")))
    if args.tty:
        out.append(field(0x05, b"\x01"))
    if args.timeout:
        out.append(field(0x06, struct.pack(">I", args.timeout)))
    if args.tty and args.rows:
        out.append(field(0x07, struct.pack(">HH", args.rows, args.cols)))
    return frame(EXEC_START, b"".join(out))


def handshake(sock, port):
    """Section 7.2: CONNECT <port>\\n, then one line; bytes after it belong to the session."""
    sock.sendall(b"CONNECT %d\n" % port)
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise PeerError("the guest agent is not listening (the socket closed without OK)")
        buf += chunk
        if len(buf) > 64 and b"\n" not in buf:
            raise PeerError("no handshake line within 64 bytes: %r" % buf[:64])
    line, rest = buf.split(b"\n", 1)
    if not line.startswith(b"OK "):
        raise PeerError("unexpected handshake answer %r" % line)
    return rest


class FrameReader:
    """Section 3.1: frames may be split or joined anywhere; the length is checked first."""

    def __init__(self, sock, initial):
        self.sock, self.buf = sock, bytearray(initial)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise PeerError("the connection closed before Exit")
            self.buf += chunk

    def next(self):
        self._fill(5)
        length, ftype = struct.unpack_from(">IB", self.buf, 0)
        if length > MAX_PAYLOAD:
            raise PeerError("FRAME_TOO_LARGE: %d bytes" % length)
        self._fill(5 + length)
        payload = bytes(self.buf[5:5 + length])
        del self.buf[:5 + length]
        return ftype, payload


def pump_stdin(sock, lock):
    fd = sys.stdin.fileno()
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            with lock:
                sock.sendall(frame(STDIN, data))
        with lock:
            sock.sendall(frame(STDIN_CLOSE))
    except OSError:
        pass  # the session ended first; the reader reports how


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--port", type=int, default=2222)
    p.add_argument("--tty", action="store_true")
    p.add_argument("--rows", type=int, default=0)
    p.add_argument("--cols", type=int, default=0)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--cwd", default="")
    p.add_argument("--user", default="")
    p.add_argument("--timeout", type=int, default=0)
    p.add_argument("--version", type=int, default=1)
    p.add_argument("--signal-after-output", type=int, default=0,
                   help="send this signal number once the first output arrives")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("argv", nargs="*")
    args = p.parse_args()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(args.socket)
    rest = handshake(sock, args.port)
    lock = threading.Lock()
    with lock:
        sock.sendall(exec_start(args))
        if args.no_stdin:
            sock.sendall(frame(STDIN_CLOSE))
    if not args.no_stdin:
        threading.Thread(target=pump_stdin, args=(sock, lock), daemon=True).start()

    reader = FrameReader(sock, rest)
    counts = {STDOUT: 0, STDERR: 0}
    sinks = {STDOUT: sys.stdout.buffer, STDERR: sys.stderr.buffer}
    signalled = False
    while True:
        ftype, payload = reader.next()
        if ftype in (STDOUT, STDERR):
            counts[ftype] += len(payload)
            sinks[ftype].write(payload)
            sinks[ftype].flush()
            if args.signal_after_output and not signalled:
                signalled = True
                with lock:
                    sock.sendall(frame(SIGNAL, bytes([args.signal_after_output])))
        elif ftype == STARTED:
            version, pid = struct.unpack_from(">HI", payload, 0)
            if len(payload) != 22 or version != args.version:
                raise PeerError("bad Started frame")
        elif ftype == PING:
            with lock:
                sock.sendall(frame(PONG, payload))
        elif ftype == EXIT:
            kind, code, sig, flags, out_bytes, err_bytes = struct.unpack(">BBBBQQ", payload)
            if (out_bytes, err_bytes) != (counts[STDOUT], counts[STDERR]):
                raise PeerError("output truncated: Exit counts %d/%d, received %d/%d"
                                % (out_bytes, err_bytes, counts[STDOUT], counts[STDERR]))
            sys.stderr.write("exit kind=%d code=%d signal=%d\n" % (kind, code, sig))
            sock.close()
            return code
        elif ftype == ERROR:
            code, mlen = struct.unpack_from(">HH", payload, 0)
            message = payload[4:4 + mlen].decode("utf-8")
            details = payload[4 + mlen:]
            extra = ""
            if code == 5:  # UNSUPPORTED_VERSION: the supported versions, u16 each
                extra = " supported=" + ",".join(str(v) for (v,) in struct.iter_unpack(">H", details))
            sys.stderr.write("error %s %d: %s%s\n" % (ERROR_NAMES.get(code, "UNKNOWN"), code, message, extra))
            sock.close()
            return 255
        elif ftype & 0x80:
            continue  # ignorable (section 2.2)
        else:
            raise PeerError("UNKNOWN_FRAME_TYPE 0x%02x" % ftype)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (PeerError, OSError) as e:
        sys.stderr.write("error %s\n" % e)
        sys.exit(255)
