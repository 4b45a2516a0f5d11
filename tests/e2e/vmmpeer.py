#!/usr/bin/env python3
"""vmmpeer.py — a VMM stand-in for vmnet's socket attachments (tests only).

Speaks QEMU's stream framing (4-byte big-endian length + frame) or one frame
per datagram, builds the few frames the tests need (DHCPDISCOVER, ARP, a
test ethertype) and misbehaves on request.

  vmmpeer.py stream PATH ACTION ...   connect to a stream attachment
  vmmpeer.py fd N ACTION ...          use descriptor N (vmnet run --fd N)
  vmmpeer.py dgram PATH ACTION ...    bind PATH.peerPID, send to PATH (QEMU dgram style)
  vmmpeer.py vfkit PATH ACTION ...    bind, connect, send "VFKT" first (vfkit style)
  vmmpeer.py unbound PATH ACTION ...  dgram without an address of our own

Actions (exit 0 when the check holds):
  dhcp MAC                  DISCOVER; print the offered address
  arp MAC SRCIP DSTIP       ARP request; succeed on the reply
  pair PATH2 [MODE2]        two ports: B says hello, A sends B a unicast frame, B gets it
  reconnect MAC N           N times: connect, DHCP, disconnect (lima-style restarts)
  bad zero|huge|garbage|midframe|oversize   misbehave on a second connection; this
                            one must keep working and the bad one be cut (except oversize)
  flood N                   a slow reader (this connection) and a flooder of N frames;
                            then the slow reader still works
  bulk N [AHEAD]            two connections: A sends B N unicast frames of 60 to 1514
                            bytes in bursts of 128, at most AHEAD (256) frames ahead of
                            B's reading; B must get every one, intact and in order (VM to
                            VM through vmnetd, big frames by reference)
"""
import atexit
import os
import socket
import struct
import sys
import threading
import time

ETH_TEST = 0x88B5  # IEEE local experimental ethertype
BCAST = b"\xff" * 6


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


class Peer:
    def __init__(self, mode, addr):
        self.mode, self.buf = mode, b""
        if mode == "stream":
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.connect(addr)
        elif mode == "fd":
            self.s = socket.socket(fileno=int(addr))
            self.mode = "stream"
        else:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.local = None
            if mode != "unbound":
                self.local = "%s.peer%d.%d" % (addr, os.getpid(), id(self) % 1000)
                try:
                    os.unlink(self.local)
                except FileNotFoundError:
                    pass
                self.s.bind(self.local)
                atexit.register(self.close)
            self.remote = addr
            if mode == "vfkit":
                self.s.connect(addr)
                self.s.send(b"VFKT")

    def close(self):
        self.s.close()
        if getattr(self, "local", None):
            try:
                os.unlink(self.local)
            except FileNotFoundError:
                pass

    def send(self, frame):
        if self.mode == "stream":
            self.s.sendall(struct.pack("!I", len(frame)) + frame)
        elif self.mode == "vfkit":
            self.s.send(frame)
        else:
            self.s.sendto(frame, self.remote)

    def recv(self, timeout):
        """One frame, or None after timeout seconds; b'' when the stream closed."""
        end = time.time() + timeout
        while True:
            if self.mode == "stream" and len(self.buf) >= 4:
                n = struct.unpack("!I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    f, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return f
            left = end - time.time()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(262144)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return b""
            if self.mode != "stream":
                return d
            if not d:
                return b""
            self.buf += d

    def wait(self, pred, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            f = self.recv(end - time.time())
            if f is None or f == b"":
                return f
            r = pred(f)
            if r:
                return r
        return None


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def dhcp_discover(mac):
    xid = os.getpid() & 0xFFFFFFFF
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"", b"")
    bootp += b"\x63\x82\x53\x63" + bytes([53, 1, 1, 55, 3, 1, 3, 6, 255])
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\0" * 4, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return BCAST + mac + b"\x08\x00" + ip + udp, xid


def dhcp_offer(xid):
    def pred(f):
        if len(f) < 14 + 20 + 8 + 240 or f[12:14] != b"\x08\x00" or f[23] != 17:
            return None
        ihl = (f[14] & 15) * 4
        b = f[14 + ihl + 8:]
        if struct.unpack("!I", b[4:8])[0] != xid:
            return None
        return socket.inet_ntoa(b[16:20])
    return pred


def arp_request(mac, src, dst):
    return (BCAST + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(src)
            + b"\0" * 6 + socket.inet_aton(dst))


def arp_reply_from(ip):
    want = socket.inet_aton(ip)
    return lambda f: f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == want


def test_frame(dst, src, text):
    return dst + src + struct.pack("!H", ETH_TEST) + text.encode().ljust(46, b"\0")


def do_dhcp(p, mac):
    frame, xid = dhcp_discover(mac_bytes(mac))
    for _ in range(3):
        p.send(frame)
        ip = p.wait(dhcp_offer(xid), 2)
        if ip:
            return ip
    return None


def gateway_works(p, mac):
    """The witness check: DHCP still answers on this connection."""
    return do_dhcp(p, mac) is not None


def act_bad(mode, addr, kind):
    good = Peer(mode, addr)
    if not gateway_works(good, "52:54:00:00:00:a1"):
        print("witness got no offer before the bad client")
        return 1
    bad = Peer("stream", addr)
    if kind == "zero":
        bad.s.sendall(struct.pack("!I", 0))
    elif kind == "huge":
        bad.s.sendall(struct.pack("!I", 0x7FFFFFFF) + b"x" * 100)
    elif kind == "garbage":
        bad.s.sendall(os.urandom(4096) + b"\xff\xff\xff\xff")
    elif kind == "midframe":
        bad.s.sendall(struct.pack("!I", 1000) + b"y" * 500)
        # FIN, not a reset: closing with broadcasts still unread would send RST, and the
        # kernel may then drop the half frame before vmnetd reads it.
        bad.s.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        bad.s.close()
    elif kind == "oversize":
        bad.s.sendall(struct.pack("!I", 9000) + b"z" * 9000)
    cut = None
    if kind not in ("midframe",):
        cut = bad.recv(1 if kind == "oversize" else 3) == b""
    ok = gateway_works(good, "52:54:00:00:00:a1")
    print("bad client %s: cut=%s witness ok=%s" % (kind, cut, ok))
    if kind == "oversize":
        # framing intact: the connection stays and still works
        return 0 if ok and cut is False and gateway_works(bad, "52:54:00:00:00:a2") else 1
    return 0 if ok and cut in (None, True) else 1


def act_flood(mode, addr, n):
    slow = Peer(mode, addr)
    if not gateway_works(slow, "52:54:00:00:00:b1"):
        return 1
    fl = Peer("stream", addr)
    frame = test_frame(BCAST, mac_bytes("52:54:00:00:00:b2"), "flood")
    chunk = (struct.pack("!I", len(frame)) + frame) * 256
    t0 = time.time()
    for _ in range(n // 256):
        fl.s.sendall(chunk)
    print("flooded %d frames in %.2fs" % (n, time.time() - t0))
    # drain what the slow reader was sent (less than all: vmnetd dropped the rest), then it must still work
    got = 0
    while slow.recv(0.5) not in (None, b""):
        got += 1
    ok = gateway_works(slow, "52:54:00:00:00:b1")
    print("slow reader got %d of %d flooded frames, works after the flood: %s" % (got, n, ok))
    return 0 if ok else 1


def act_pair(mode, addr, addr2, mode2):
    a, b = Peer(mode, addr), Peer(mode2, addr2)
    amac, bmac = mac_bytes("52:54:00:00:00:c1"), mac_bytes("52:54:00:00:00:c2")
    a.send(test_frame(BCAST, amac, "hello from a"))  # a datagram peer must speak first
    b.send(test_frame(BCAST, bmac, "hello from b"))
    a.wait(lambda f: f[6:12] == bmac, 3)
    a.send(test_frame(bmac, amac, "unicast a->b"))
    got = b.wait(lambda f: f[12:14] == struct.pack("!H", ETH_TEST) and b"unicast a->b" in f, 5)
    print("b got a's unicast frame: %s" % bool(got))
    return 0 if got else 1


def bulk_frame(dst, src, i):
    n = 60 + (i * 397) % 1455  # 60 .. 1514 bytes
    body = struct.pack("!I", i) + bytes((i * 7 + k) & 0xFF for k in range(256))
    body = (body * (n // len(body) + 1))[: n - 14]
    return dst + src + struct.pack("!H", ETH_TEST) + body


def act_bulk(mode, addr, n, ahead=256):
    a, b = Peer(mode, addr), Peer(mode, addr)
    amac, bmac = mac_bytes("52:54:00:00:00:d1"), mac_bytes("52:54:00:00:00:d2")
    b.send(test_frame(BCAST, bmac, "hello from b"))
    if not a.wait(lambda f: f[6:12] == bmac, 3):
        print("a never saw b")
        return 1
    st = {"got": 0, "lost": 0, "damaged": 0, "reordered": 0, "other": 0, "next": 0}

    def reader():
        while st["next"] < n:
            f = b.recv(5)
            if f is None or f == b"":
                return
            if len(f) < 18 or f[6:12] != amac or f[12:14] != struct.pack("!H", ETH_TEST):
                st["other"] += 1
                continue
            i = struct.unpack("!I", f[14:18])[0]
            if i < st["next"]:
                st["reordered"] += 1
                continue
            st["lost"] += i - st["next"]
            st["next"] = i + 1
            if f != bulk_frame(bmac, amac, i):
                st["damaged"] += 1
            else:
                st["got"] += 1

    t = threading.Thread(target=reader)
    t.start()
    t0, i = time.time(), 0
    while i < n and time.time() - t0 < 60:
        # bursts of 128, at most 384 frames (~300 KB) ahead of the reader: vmnetd never
        # waits for a slow VM (it drops what its queue cannot hold), so the test lets B keep up
        if i - st["next"] > ahead:
            time.sleep(0.0005)
            continue
        burst = b"".join(struct.pack("!I", len(f)) + f for f in
                         (bulk_frame(bmac, amac, k) for k in range(i, min(n, i + 128))))
        a.s.sendall(burst)
        i = min(n, i + 128)
    t.join(30)
    print("b got %d of %d frames intact and in order; lost %d, damaged %d, out of order %d, others %d; %.1f s"
          % (st["got"], n, st["lost"], st["damaged"], st["reordered"], st["other"], time.time() - t0))
    return 0 if st["got"] == n else 1


def main():
    mode, addr, action, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if action == "dhcp":
        ip = do_dhcp(Peer(mode, addr), args[0])
        print(ip or "no offer")
        return 0 if ip else 1
    if action == "arp":
        p = Peer(mode, addr)
        p.send(arp_request(mac_bytes(args[0]), args[1], args[2]))
        ok = p.wait(arp_reply_from(args[2]), 3)
        print("arp reply" if ok else "no arp reply")
        return 0 if ok else 1
    if action == "pair":
        return act_pair(mode, addr, args[0], args[1] if len(args) > 1 else mode)
    if action == "reconnect":
        ips = set()
        for _ in range(int(args[1])):
            p = Peer(mode, addr)
            ips.add(do_dhcp(p, args[0]))
            p.close()
        print("offers: %s" % sorted(str(i) for i in ips))
        return 0 if len(ips) == 1 and None not in ips else 1
    if action == "bad":
        return act_bad(mode, addr, args[0])
    if action == "flood":
        return act_flood(mode, addr, int(args[0]))
    if action == "bulk":
        return act_bulk(mode, addr, int(args[0]), *(int(x) for x in args[1:2]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
