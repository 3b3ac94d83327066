#!/usr/bin/env python3
"""A client of the original platform's copy API, written in another language, as its Go
client (hypeman-go's lib/cp.go) speaks it: a JSON CpRequest on GET /instances/{id}/cp, one
WebSocket per file or directory for "to", headers, data and end markers for "from", and
GET /instances/{id}/stat for PathInfo. Standard library only: its WebSocket (RFC 6455) is
its own, so nothing of this project's code is on the client side.

Usage: hx_cp_compat.py --url http://HOST:PORT --token JWT --instance ID COMMAND ...
  to LOCAL GUEST_PATH        copy a local file or directory to GUEST_PATH (as CpToInstance)
  from GUEST_PATH LOCAL_DIR  copy from the guest into LOCAL_DIR (as CpFromInstance) [--follow]
  stat GUEST_PATH            print the PathInfo [--follow]
  raw JSON                   send one CpRequest and print every message that comes back

Prints one JSON line per message received (text messages as they came, binary ones as
{"binary": length}); exits 0 on success, 1 when the server reported a failure.
"""
import argparse
import base64
import json
import os
import socket
import struct
import sys
import urllib.parse
import urllib.request

CHUNK = 32 * 1024  # as the Go client reads files


class WebSocket:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {token}\r\n\r\n")
        self.sock.sendall(request.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            more = self.sock.recv(4096)
            if not more:
                raise RuntimeError("connection closed during the handshake")
            self.buf += more
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n")[0]
        if b" 101 " not in status:
            raise RuntimeError(f"upgrade refused: {head.decode(errors='replace')}")

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else self._mask(payload, mask)
        self.sock.sendall(header + mask + masked)

    @staticmethod
    def _mask(payload, mask):
        # XOR a whole chunk at once: the key repeated to the payload's length, as one big integer.
        key = (mask * (len(payload) // 4 + 1))[: len(payload)]
        return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")

    def send_text(self, obj):
        self.send(0x1, json.dumps(obj).encode())

    def _read(self, n):
        while len(self.buf) < n:
            more = self.sock.recv(65536)
            if not more:
                raise EOFError
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next message: ("text", str), ("binary", bytes) or ("close", code)."""
        payload = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            data = self._read(n)
            if opcode == 0x8:
                code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
                try:
                    self.send(0x8, data[:2])
                except OSError:
                    pass
                return ("close", code)
            if opcode == 0x9:
                self.send(0xA, data)
                continue
            if opcode == 0xA:
                continue
            payload += data
            if b0 & 0x80:
                kind = opcode if opcode else self._kind
                return ("text", payload.decode()) if kind == 0x1 else ("binary", payload)
            if opcode:
                self._kind = opcode

    def close(self):
        try:
            self.send(0x8, struct.pack(">H", 1000))
            while self.recv()[0] != "close":
                pass
        except (OSError, EOFError):
            pass
        self.sock.close()


def ws_url(args):
    u = urllib.parse.urlparse(args.url)
    return f"ws://{u.hostname}:{u.port}/instances/{args.instance}/cp"


def report(kind, value):
    print(json.dumps({"binary": len(value)} if kind == "binary" else json.loads(value) if kind == "text" else {"close": value}), flush=True)


def copy_file_to(args, local, guest):
    st = os.stat(local)
    ws = WebSocket(ws_url(args), args.token)
    ws.send_text({"direction": "to", "guest_path": guest, "mode": st.st_mode & 0o777})
    with open(local, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            ws.send(0x2, chunk)
    ws.send_text({"type": "end"})
    kind, value = ws.recv()
    report(kind, value)
    ws.close()
    return kind == "text" and json.loads(value).get("success") is True


def copy_to(args, local, guest):
    if not os.path.isdir(local):
        return copy_file_to(args, local, guest)
    # As the Go client: one connection makes the directory, then one per entry below it.
    ws = WebSocket(ws_url(args), args.token)
    ws.send_text({"direction": "to", "guest_path": guest, "is_dir": True, "mode": os.stat(local).st_mode & 0o777})
    ws.send_text({"type": "end"})
    kind, value = ws.recv()
    report(kind, value)
    ws.close()
    if not (kind == "text" and json.loads(value).get("success")):
        return False
    for name in sorted(os.listdir(local)):
        if not copy_to(args, os.path.join(local, name), guest.rstrip("/") + "/" + name):
            return False
    return True


def copy_from(args, guest, local):
    ws = WebSocket(ws_url(args), args.token)
    request = {"direction": "from", "guest_path": guest}
    if args.follow:
        request["follow_links"] = True
    ws.send_text(request)
    current = None
    ok = False
    while True:
        kind, value = ws.recv()
        report(kind, value)
        if kind == "close":
            break
        if kind == "binary":
            current.write(value)
            continue
        msg = json.loads(value)
        if msg["type"] == "header":
            target = os.path.join(local, msg["path"].lstrip("/"))
            if msg["is_dir"]:
                os.makedirs(target, exist_ok=True)
            elif msg.get("is_symlink"):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(msg["link_target"], target)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                current = open(target, "wb")
        elif msg["type"] == "end":
            if current:
                current.close()
                current = None
            if msg["final"]:
                ok = True
        elif msg["type"] == "error":
            break
    ws.close()
    return ok


def stat(args, guest):
    q = urllib.parse.urlencode({"path": guest, "follow_links": "true" if args.follow else "false"})
    req = urllib.request.Request(f"{args.url}/instances/{args.instance}/stat?{q}", headers={"Authorization": f"Bearer {args.token}"})
    try:
        with urllib.request.urlopen(req) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read().decode(), e.code
    print(json.dumps({"status": status, "body": json.loads(body)}), flush=True)
    return status == 200


def raw(args, text):
    ws = WebSocket(ws_url(args), args.token)
    ws.send(0x1, text.encode())
    while True:
        kind, value = ws.recv()
        report(kind, value)
        if kind == "close":
            return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--instance", required=True)
    p.add_argument("--follow", action="store_true")
    p.add_argument("command")
    p.add_argument("paths", nargs="*")
    args = p.parse_args()
    ok = {"to": lambda: copy_to(args, *args.paths), "from": lambda: copy_from(args, *args.paths),
          "stat": lambda: stat(args, *args.paths), "raw": lambda: raw(args, *args.paths)}[args.command]()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
