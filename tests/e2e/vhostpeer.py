#!/usr/bin/env python3
"""vhostpeer.py — a vhost-user front-end stand-in (tests only).

Plays QEMU's part of the vhost-user protocol against a vmnet vhost-user
attachment with its own "guest memory" (a sealed memfd), so that the tests
can drive the queues directly and break every rule on purpose.

  vhostpeer.py PATH dhcp MAC        transmit a DHCPDISCOVER, post receive
                                    buffers, expect the offer; print the address
  vhostpeer.py PATH bad CASE        misbehave; succeed when vmnetd hangs up:
      unsealed     guest memory that may shrink
      shortmem     a region larger than its memfd
      outside      a transmit descriptor pointing outside guest memory
      loop         a descriptor chain that loops
      index        an available index far beyond the queue size
      request      an unsupported request
      features     features that were not offered
"""
import fcntl
import mmap
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmpeer  # noqa: E402  (frame builders)

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 8, 9, 10, 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_ENABLE = 15, 16, 18
FEATURES = (1 << 32) | (1 << 15) | (1 << 30)
MEM = 1 << 20           # guest memory
GPA, UVA = 0x100000, 0x7f0000000000
QSIZE = 8
# layout inside guest memory (offsets): per queue desc/avail/used, then buffers
Q_OFF = [0x0000, 0x1000]
BUF_OFF = 0x10000
DESC_NEXT, DESC_WRITE = 1, 2


class FrontEnd:
    def __init__(self, path, sealed=True, mem_size=MEM, region_size=MEM):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(3)
        self.fd = os.memfd_create("guest", os.MFD_ALLOW_SEALING)
        os.ftruncate(self.fd, mem_size)
        if sealed:
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        self.mem = mmap.mmap(self.fd, mem_size)
        self.region_size = region_size
        self.kick = [os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK)]
        self.call = [os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK)]
        self.last_used = [0, 0]
        self.closed = False
        self.avail_idx = [0, 0]

    def send(self, req, payload=b"", fds=()):
        msg = struct.pack("<III", req, 1, len(payload)) + payload
        try:
            if fds:
                self.s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))])
            else:
                self.s.sendall(msg)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True  # vmnetd hung up already

    def get_u64(self, req):
        self.send(req)
        try:
            h = self.s.recv(12)
        except (socket.timeout, ConnectionResetError):
            return None
        if len(h) < 12:
            self.closed = True
            return None
        return struct.unpack("<Q", self.s.recv(8))[0]

    def hung_up(self, timeout=5):
        """Did vmnetd close the connection (within timeout)? Replies still in flight are read past."""
        if self.closed:
            return True
        end = time.time() + timeout
        while time.time() < end:
            self.s.settimeout(max(0.05, end - time.time()))
            try:
                if self.s.recv(4096) == b"":
                    return True
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
        return False

    def setup(self, features=FEATURES):
        assert (self.get_u64(GET_FEATURES) or 0) & FEATURES == FEATURES
        self.send(SET_FEATURES, struct.pack("<Q", features))
        self.get_u64(GET_PROTOCOL_FEATURES)
        self.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", 0))
        self.send(SET_OWNER)
        table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", GPA, self.region_size, UVA, 0)
        self.send(SET_MEM_TABLE, table, [self.fd])
        for q in (0, 1):
            base = UVA + Q_OFF[q]
            self.send(SET_VRING_NUM, struct.pack("<II", q, QSIZE))
            self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", q, 0, base, base + 0x800, base + 0x400, 0))
            self.send(SET_VRING_BASE, struct.pack("<II", q, 0))
            self.send(SET_VRING_CALL, struct.pack("<Q", q), [self.call[q]])
            self.send(SET_VRING_KICK, struct.pack("<Q", q), [self.kick[q]])
            self.send(SET_VRING_ENABLE, struct.pack("<II", q, 1))

    # guest memory helpers (offsets into the memfd)
    def desc(self, q, i, addr, length, flags, nxt=0):
        struct.pack_into("<QIHH", self.mem, Q_OFF[q] + 16 * i, addr, length, flags, nxt)

    def make_avail(self, q, head, idx=None):
        a = Q_OFF[q] + 0x400
        struct.pack_into("<H", self.mem, a + 4 + 2 * (self.avail_idx[q] % QSIZE), head)
        self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xFFFF if idx is None else idx
        struct.pack_into("<H", self.mem, a + 2, self.avail_idx[q])
        os.eventfd_write(self.kick[q], 1)

    def used(self, q):
        u = Q_OFF[q] + 0x800
        idx = struct.unpack_from("<H", self.mem, u + 2)[0]
        out = []
        while self.last_used[q] != idx:
            out.append(struct.unpack_from("<II", self.mem, u + 4 + 8 * (self.last_used[q] % QSIZE)))
            self.last_used[q] = (self.last_used[q] + 1) & 0xFFFF
        return out

    def transmit(self, frame, slot=0):
        off = BUF_OFF + 0x8000 + slot * 0x800
        self.mem[off:off + 12 + len(frame)] = bytes(12) + frame
        self.desc(1, slot, GPA + off, 12 + len(frame), 0)
        self.make_avail(1, slot)

    def post_rx(self, n=QSIZE):
        for i in range(n):
            self.desc(0, i, GPA + BUF_OFF + i * 0x800, 0x800, DESC_WRITE)
            self.make_avail(0, i)

    def receive(self, timeout=3):
        end = time.time() + timeout
        while time.time() < end:
            for head, length in self.used(0):
                off = BUF_OFF + head * 0x800
                yield bytes(self.mem[off + 12:off + length])
                self.desc(0, head, GPA + off, 0x800, DESC_WRITE)
                self.make_avail(0, head)
            time.sleep(0.02)


def do_dhcp(path, mac):
    fe = FrontEnd(path)
    fe.setup()
    fe.post_rx()
    frame, xid = vmmpeer.dhcp_discover(vmmpeer.mac_bytes(mac))
    pred = vmmpeer.dhcp_offer(xid)
    for attempt in range(3):
        fe.transmit(frame, slot=attempt)
        for f in fe.receive(2):
            ip = pred(f)
            if ip:
                print(ip)
                return 0
    print("no offer")
    return 1


def do_bad(path, case):
    if case == "unsealed":
        fe = FrontEnd(path, sealed=False)
        fe.setup()
    elif case == "shortmem":
        fe = FrontEnd(path, region_size=MEM * 4)
        fe.setup()
    elif case == "features":
        fe = FrontEnd(path)
        fe.setup(features=FEATURES | (1 << 22))  # VIRTIO_NET_F_MQ was not offered
    elif case == "request":
        fe = FrontEnd(path)
        fe.setup()
        fe.send(40)  # not a request vmnetd takes
    else:
        fe = FrontEnd(path)
        fe.setup()
        if case == "outside":
            fe.desc(1, 0, GPA + MEM - 8, 64, 0)   # runs past the end of the region
            fe.make_avail(1, 0)
        elif case == "loop":
            fe.desc(1, 0, GPA + BUF_OFF, 64, DESC_NEXT, 1)
            fe.desc(1, 1, GPA + BUF_OFF, 64, DESC_NEXT, 0)
            fe.make_avail(1, 0)
        elif case == "index":
            fe.make_avail(1, 0, idx=1000)
    ok = fe.hung_up()
    print("vmnetd hung up on the %s front-end: %s" % (case, ok))
    return 0 if ok else 1


def main():
    path, action, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if action == "dhcp":
        return do_dhcp(path, arg)
    if action == "bad":
        return do_bad(path, arg)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
