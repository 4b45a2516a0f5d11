#!/usr/bin/env python3
"""vmlinux.py BZIMAGE OUT — write the ELF kernel inside a compressed x86 bzImage.

QEMU boots an ELF vmlinux directly through PVH (CONFIG_PVH=y), which under
TCG saves the several seconds the kernel would spend decompressing itself.
Handles xz and gzip payloads (Debian's kernels)."""
import lzma
import sys
import zlib

data = open(sys.argv[1], "rb").read()
for magic in (b"\xfd7zXZ\x00", b"\x1f\x8b\x08"):
    off = data.find(magic)
    while off >= 0:
        try:
            if magic[0] == 0xFD:
                elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[off:])
            else:
                elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[off:])
        except (lzma.LZMAError, zlib.error, EOFError):
            elf = b""
        if elf[:4] == b"\x7fELF":
            open(sys.argv[2], "wb").write(elf)
            sys.exit(0)
        off = data.find(magic, off + 1)
sys.exit("vmlinux.py: no xz or gzip ELF payload in " + sys.argv[1])
