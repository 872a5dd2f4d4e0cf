#!/usr/bin/env python3
"""realct.py RAW16.png RENDERED8.png LO HI - check lesiond's windowing of a real 16-bit
DeepLesion slice against values computed here, independently of lesiond: both PNGs are
decoded by this file's own reader (zlib + the five PNG filters, standard library only), HU = value - 32768, expected gray = clamp(floor((HU - LO) * 255 / (HI - LO) +
0.5), 0, 255). Prints "pixels N exact E off_by_one O worse W hu_min A hu_max B" and exits 1
unless every pixel is within 1 gray level and at least 99.9% are exact (float rounding at
exact half steps may differ by one).
"""
import math
import struct
import sys
import zlib


def decode(path):
    """Rows of samples of an 8- or 16-bit grayscale PNG."""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", path + ": not a PNG"
    off, idat, ihdr = 8, b"", None
    while off < len(b):
        n, = struct.unpack(">I", b[off:off + 4])
        t, d = b[off + 4:off + 8], b[off + 8:off + 8 + n]
        if t == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", d)
        elif t == b"IDAT":
            idat += d
        off += 12 + n
    w, h, depth, ctype = ihdr[:4]
    assert ctype == 0 and depth in (8, 16), path + ": not 8/16-bit gray"
    bpp = depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 2:
            line = bytearray((x + u) & 255 for x, u in zip(line, prev))
        elif f != 0:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                up = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if f == 1:
                    pr = a
                elif f == 3:
                    pr = (a + up) // 2
                else:
                    p = a + up - c
                    pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
                    pr = a if pa <= pb and pa <= pc else (up if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append(list(struct.unpack(">%dH" % w, bytes(line))) if depth == 16 else list(line))
        prev = line
    return rows


def main():
    raw, ren, lo, hi = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    hu = [[v - 32768 for v in r] for r in decode(raw)]
    got = decode(ren)
    assert len(hu) == len(got) and len(hu[0]) == len(got[0]), "sizes differ"
    n = exact = one = worse = 0
    for hr, gr in zip(hu, got):
        for v, g in zip(hr, gr):
            want = min(255, max(0, math.floor((v - lo) * 255.0 / (hi - lo) + 0.5)))
            d = abs(g - want)
            n += 1
            exact += d == 0
            one += d == 1
            worse += d > 1
    print("pixels %d exact %d off_by_one %d worse %d hu_min %d hu_max %d" %
          (n, exact, one, worse, min(map(min, hu)), max(map(max, hu))))
    sys.exit(0 if worse == 0 and exact >= 0.999 * n else 1)


main()
