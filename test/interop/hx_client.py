#!/usr/bin/env python3
"""A hypeman-exec client written from spec/PROTOCOL.md alone, in another language.

It proves the spec is enough to interoperate with the agent (issue 2's acceptance, and
issue 14's for durable sessions): it speaks the hybrid vsock handshake (section 7.2), the
frames of section 4 and, with --linger, the durable sessions of section 10: it acknowledges
output, keeps the stdin the agent has not acknowledged, and resumes a session over a new
connection when one is lost. Standard library only.

Usage: hx_client.py --socket PATH [--port 2222] [--tty] [--rows R --cols C]
                    [--env NAME=VALUE]... [--cwd DIR] [--user U] [--timeout S]
                    [--version V] [--signal-after-output N] [--no-stdin]
                    [--linger S] [--owner O] [--cut-after-bytes N]... [--detach]
                    -- ARGV...
       hx_client.py --socket PATH --attach SESSION_ID [--owner O]
       hx_client.py --socket PATH --list [--owner O]

Stdin is forwarded (Stdin frames of at most 64 KiB, StdinClose at EOF); Stdout and Stderr
frames go to this process's stdout and stderr. Exits with the Exit record's code. An Error
frame prints "error <NAME> <code>: <message>" on stderr and exits 255; so does any
protocol violation by the peer. --cut-after-bytes N drops the connection (no goodbye, as a
network would) once N stdout bytes have arrived, and resumes; each resume prints
"resumed stdin=T lost=O/E" on stderr. --detach prints the session id and leaves the session
running; --attach goes on with one; --list prints the SessionList's JSON.
"""
import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

# Section 2.2: frame types.
EXEC_START, STDIN, STDIN_CLOSE, WINDOW_SIZE, SIGNAL = 0x01, 0x02, 0x03, 0x04, 0x05
OUTPUT_ACK, LIST_SESSIONS = 0x06, 0x07
STARTED, STDOUT, STDERR, EXIT, LINGER, RESUMED, STDIN_ACK, SESSION_LIST = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17
ERROR, PING, PONG = 0x20, 0x21, 0x22
MAX_PAYLOAD = 1 << 20  # section 2.3
MAX_UNACKED_STDIN = 4 * 1024 * 1024  # section 10.5
ACK_AFTER_SILENCE = 0.05  # section 10.4: acknowledge when output stops arriving
# Section 5: the names, for messages only.
ERROR_NAMES = {1: "MALFORMED_FRAME", 2: "FRAME_TOO_LARGE", 3: "UNKNOWN_FRAME_TYPE", 4: "UNEXPECTED_FRAME",
               5: "UNSUPPORTED_VERSION", 16: "INVALID_REQUEST", 17: "CWD_NOT_FOUND", 18: "USER_NOT_FOUND",
               19: "SPAWN_FAILED", 20: "SESSION_NOT_FOUND", 21: "SESSION_FORBIDDEN", 22: "SESSION_TAKEN_OVER",
               32: "INTERNAL_ERROR", 33: "SHUTTING_DOWN", 34: "TOO_MANY_SESSIONS"}


class PeerError(Exception):
    pass


class ConnectionLost(Exception):
    pass


class RemoteError(Exception):
    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


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
    if args.linger:
        out.append(field(0x08, struct.pack(">I", args.linger)))  # section 10.2
    if args.owner:
        out.append(field(0x0a, args.owner.encode("utf-8")))  # section 10.7
    return frame(EXEC_START, b"".join(out))


def resume_start(session_id, offsets, owner):
    """Section 10.6: version 2, the owner, the session id and the offsets, nothing else."""
    out = [struct.pack(">H", 2)]
    if owner:
        out.append(field(0x0a, owner.encode("utf-8")))
    out.append(field(0x10, session_id))
    out.append(field(0x11, struct.pack(">QQ", offsets[STDOUT], offsets[STDERR])))
    return frame(EXEC_START, b"".join(out))


def connect(path, port):
    """Section 7.2: CONNECT <port>\\n, then one line; bytes after it belong to the session."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
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
    return sock, rest


class FrameReader:
    """Section 3.1: frames may be split or joined anywhere; the length is checked first.

    `idle` is called when nothing arrives for ACK_AFTER_SILENCE seconds."""

    def __init__(self, sock, initial, idle=None):
        self.sock, self.buf, self.idle = sock, bytearray(initial), idle

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                if self.idle and not select.select([self.sock], [], [], ACK_AFTER_SILENCE)[0]:
                    self.idle()
                    continue
                chunk = self.sock.recv(1 << 16)
            except (OSError, ValueError) as e:  # ValueError: select on a socket we closed
                raise ConnectionLost(str(e))
            if not chunk:
                raise ConnectionLost("the connection closed before Exit")
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


class Session:
    """One session over as many connections as it takes (section 10)."""

    def __init__(self, args):
        self.args = args
        self.cond = threading.Condition()
        self.sock = None
        self.ready = False  # the connection may carry our frames
        self.session_id = None
        self.linger = 0
        self.window = 0
        self.offsets = {STDOUT: 0, STDERR: 0}  # section 10.1: received, or reported lost
        self.acked = {STDOUT: 0, STDERR: 0}
        self.journal = []  # stdin payloads sent, not acknowledged, oldest first
        self.journal_start = 0  # the stdin offset of journal[0]
        # Section 10.5: stdin is kept from the first byte when a linger was asked for, until
        # Linger says the session does not linger (it comes after Started: stdin written in
        # between must be kept too, or the journal's offsets stop matching the agent's).
        self.keeping = bool(args.linger or args.attach)
        self.stdin_closed = False
        self.cuts = list(args.cut_after_bytes)
        self.signalled = False

    # ---- sending (under self.cond) ----

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the reader sees the connection go and resumes; what was journaled goes again

    def unacked_stdin(self):
        return sum(len(p) for p in self.journal)

    def write_stdin(self, data):
        with self.cond:
            while not self.ready or self.unacked_stdin() >= MAX_UNACKED_STDIN:
                self.cond.wait()
            if self.keeping:
                self.journal.append(data)  # kept until StdinAck covers it (section 10.5)
            self.send(frame(STDIN, data))

    def close_stdin(self):
        with self.cond:
            self.stdin_closed = True
            if self.ready:
                self.send(frame(STDIN_CLOSE))

    def acknowledge(self):
        """Section 10.4: OutputAck with the offsets, totals."""
        with self.cond:
            if not self.ready or not self.linger or self.offsets == self.acked:
                return
            self.acked = dict(self.offsets)
            self.send(frame(OUTPUT_ACK, struct.pack(">QQ", self.offsets[STDOUT], self.offsets[STDERR])))

    def stdin_acknowledged(self, total):
        with self.cond:
            drop = total - self.journal_start
            while drop > 0 and self.journal:
                head = self.journal[0]
                if len(head) <= drop:
                    self.journal.pop(0)
                    drop -= len(head)
                    self.journal_start += len(head)
                else:
                    self.journal[0] = head[drop:]
                    self.journal_start += drop
                    drop = 0
            self.journal_start = max(self.journal_start, total)
            self.cond.notify_all()

    # ---- connections ----

    def start(self, first_frame, ready):
        sock, rest = connect(self.args.socket, self.args.port)
        with self.cond:
            self.sock = sock
            sock.sendall(first_frame)
            self.ready = ready
            self.cond.notify_all()
        return FrameReader(sock, rest, self.acknowledge if self.linger or self.args.attach else None)

    def drop_connection(self):
        with self.cond:
            self.ready = False
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    def resume(self):
        """Section 10.6: new connections until one resumes the session, within the linger."""
        deadline = time.monotonic() + self.linger
        delay = 0.0
        while True:
            if time.monotonic() + delay > deadline:
                raise PeerError("could not resume the session within its linger")
            time.sleep(delay)
            delay = min(2.0, max(0.1, delay * 2))
            try:
                reader = self.start(resume_start(self.session_id, self.offsets, self.args.owner), False)
                ftype, payload = reader.next()
            except (ConnectionLost, OSError, PeerError):
                continue
            if ftype == ERROR:
                raise error_of(payload)
            if ftype != RESUMED:
                raise PeerError("the first frame of a resumed session must be Resumed, not 0x%02x" % ftype)
            self.resumed(payload)
            return reader

    def resumed(self, payload):
        (_version, _pid, session_id, taken, out_lost, err_lost, linger, window, flags) = struct.unpack(">HI16sQQQIIB", payload)
        with self.cond:
            self.session_id, self.linger, self.window = session_id, linger, window
            self.keeping = linger > 0
            self.offsets[STDOUT] += out_lost
            self.offsets[STDERR] += err_lost
            if self.args.attach and self.journal_start == 0 and not self.journal:
                self.journal_start = taken  # attaching: our stdin follows what the agent took
            if taken < self.journal_start:
                raise PeerError("Resumed says %d stdin bytes were taken, fewer than acknowledged before" % taken)
        self.stdin_acknowledged(taken)
        with self.cond:
            for payload_again in self.journal:  # what the agent had not taken, in order
                self.sock.sendall(frame(STDIN, payload_again))
            if self.stdin_closed and not (flags & 1):
                self.sock.sendall(frame(STDIN_CLOSE))
            if self.args.tty and self.args.rows:
                self.sock.sendall(frame(WINDOW_SIZE, struct.pack(">HH", self.args.rows, self.args.cols)))
            self.ready = True
            self.cond.notify_all()
        self.acknowledge()
        sys.stderr.write("resumed stdin=%d lost=%d/%d\n" % (taken, out_lost, err_lost))

    # ---- the session ----

    def run(self):
        if self.args.attach:
            self.session_id = bytes.fromhex(self.args.attach)
            self.linger = 1  # resume() needs some time; Resumed says the real linger
            reader = self.resume()
        else:
            reader = self.start(exec_start(self.args), True)
        if self.args.no_stdin and not self.args.detach:
            self.close_stdin()
        elif not self.args.detach:
            threading.Thread(target=pump_stdin, args=(self,), daemon=True).start()
        sinks = {STDOUT: sys.stdout.buffer, STDERR: sys.stderr.buffer}
        while True:
            try:
                ftype, payload = reader.next()
            except ConnectionLost:
                if not self.linger or self.session_id is None:
                    raise PeerError("the connection closed before Exit")
                reader = self.resume()
                continue
            if ftype in (STDOUT, STDERR):
                self.offsets[ftype] += len(payload)
                sinks[ftype].write(payload)
                sinks[ftype].flush()
                if self.linger and sum(self.offsets.values()) - sum(self.acked.values()) >= max(1, self.window // 4):
                    self.acknowledge()
                if self.args.signal_after_output and not self.signalled:
                    self.signalled = True
                    with self.cond:
                        self.send(frame(SIGNAL, bytes([self.args.signal_after_output])))
                if self.cuts and self.offsets[STDOUT] >= self.cuts[0]:
                    self.cuts.pop(0)
                    self.drop_connection()
            elif ftype == STARTED:
                version, _pid, session_id = struct.unpack(">HI16s", payload)
                if len(payload) != 22 or version != self.args.version:
                    raise PeerError("bad Started frame")
                self.session_id = session_id
            elif ftype == LINGER:
                self.linger, self.window = struct.unpack(">II", payload)
                if not self.linger:
                    with self.cond:
                        self.keeping = False
                        self.journal = []
                if self.args.detach:
                    if not self.linger:
                        raise PeerError("the agent does not let this session linger")
                    sys.stdout.write(self.session_id.hex() + "\n")
                    self.sock.close()  # no Error frame: the session is detached (section 10.5)
                    return 0
            elif ftype == STDIN_ACK:
                (total,) = struct.unpack(">Q", payload)
                self.stdin_acknowledged(total)
            elif ftype == PING:
                with self.cond:
                    self.send(frame(PONG, payload))
            elif ftype == EXIT:
                kind, code, sig, _flags, out_bytes, err_bytes = struct.unpack(">BBBBQQ", payload)
                if (out_bytes, err_bytes) != (self.offsets[STDOUT], self.offsets[STDERR]):
                    raise PeerError("output truncated: Exit counts %d/%d, received %d/%d"
                                    % (out_bytes, err_bytes, self.offsets[STDOUT], self.offsets[STDERR]))
                sys.stderr.write("exit kind=%d code=%d signal=%d\n" % (kind, code, sig))
                self.sock.close()
                return code
            elif ftype == ERROR:
                raise error_of(payload)
            elif ftype & 0x80:
                continue  # ignorable (section 2.2)
            else:
                raise PeerError("UNKNOWN_FRAME_TYPE 0x%02x" % ftype)


def error_of(payload):
    code, mlen = struct.unpack_from(">HH", payload, 0)
    message = payload[4:4 + mlen].decode("utf-8")
    details = payload[4 + mlen:]
    extra = ""
    if code == 5:  # UNSUPPORTED_VERSION: the supported versions, u16 each
        extra = " supported=" + ",".join(str(v) for (v,) in struct.iter_unpack(">H", details))
    return RemoteError(code, "%s %d: %s%s" % (ERROR_NAMES.get(code, "UNKNOWN"), code, message, extra))


def pump_stdin(session):
    fd = sys.stdin.fileno()
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            session.write_stdin(data)
        session.close_stdin()
    except OSError:
        pass  # the session ended first; the reader reports how


def list_sessions(args):
    """Section 10.8: ListSessions on a connection of its own; SessionList, then the agent closes."""
    sock, rest = connect(args.socket, args.port)
    sock.sendall(frame(LIST_SESSIONS, struct.pack(">H", 2) + args.owner.encode("utf-8")))
    ftype, payload = FrameReader(sock, rest).next()
    sock.close()
    if ftype == ERROR:
        raise error_of(payload)
    if ftype != SESSION_LIST:
        raise PeerError("ListSessions answered with frame type 0x%02x" % ftype)
    sys.stdout.write(payload.decode("utf-8") + "\n")
    return 0


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
    p.add_argument("--linger", type=int, default=0, help="seconds the session survives a lost connection (version 2)")
    p.add_argument("--owner", default="")
    p.add_argument("--cut-after-bytes", type=int, action="append", default=[],
                   help="drop the connection once this many stdout bytes have arrived, and resume")
    p.add_argument("--detach", action="store_true", help="print the session id and leave it running")
    p.add_argument("--attach", default="", help="go on with this session (its id in hex)")
    p.add_argument("--list", action="store_true", help="print the agent's sessions (JSON)")
    p.add_argument("argv", nargs="*")
    args = p.parse_args()
    if args.linger or args.owner or args.attach or args.list:
        args.version = max(args.version, 2)
    if args.list:
        return list_sessions(args)
    return Session(args).run()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RemoteError as e:
        sys.stderr.write("error %s\n" % e)
        sys.exit(255)
    except (PeerError, OSError) as e:
        sys.stderr.write("error %s\n" % e)
        sys.exit(255)
