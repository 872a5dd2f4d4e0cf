#!/usr/bin/env python3
"""images_gen.py DIR - synthetic DeepLesion-format data for tests/e2e/images.sh.

Writes DIR/Images_png/<series>/<slice>.png as 16-bit grayscale PNGs (HU + 32768) holding
the plane HU = 7*x - 5*y + 100 (x, y 0-based pixels), and DIR/DL_info.csv with five
lesions: 1 normal (512x512, slices 103..115), 2 at the border of a 768x768 slice,
3 pointing at a corrupt file, 4 at an 8-bit PNG, 5 at a missing file.
Also `images_gen.py --info FILE.png` prints "width height depth ctype" after checking
every chunk's CRC and inflating the image data, and `--pixel FILE.png X Y` prints one
sample of an 8-bit gray or 16-bit gray image. Standard library only.
"""
import struct
import sys
import zlib
import os


def chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xffffffff)


def png(w, h, depth, ctype, rows):
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def plane16(w, h):
    rows = []
    for y in range(h):
        rows.append(b"".join(struct.pack(">H", 7 * x - 5 * y + 100 + 32768) for x in range(w)))
    return png(w, h, 16, 0, rows)


def parse(path):
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "signature"
    off, idat, ihdr, end = 8, b"", None, False
    while off < len(b):
        n, = struct.unpack(">I", b[off:off + 4])
        t = b[off + 4:off + 8]
        d = b[off + 8:off + 8 + n]
        crc, = struct.unpack(">I", b[off + 8 + n:off + 12 + n])
        assert zlib.crc32(t + d) & 0xffffffff == crc, "crc"
        if t == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", d)
        elif t == b"IDAT":
            idat += d
        elif t == b"IEND":
            end = True
        off += 12 + n
    assert ihdr and end, "IHDR/IEND"
    w, h, depth, ctype = ihdr[:4]
    ch = {0: 1, 2: 3}[ctype]
    bpp = ch * depth // 8
    raw = zlib.decompress(idat)
    stride = w * bpp
    assert len(raw) == h * (stride + 1), "size"
    out, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + up) & 255
            elif f == 3:
                line[i] = (line[i] + (a + up) // 2) & 255
            elif f == 4:
                p = a + up - c
                pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (up if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        out.append(bytes(line))
        prev = line
    return w, h, depth, ctype, bpp, out


HEADER = ("File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Measurement_coordinates,"
          "Bounding_boxes,Lesion_diameters_Pixel_,Normalized_lesion_location,Coarse_lesion_type,"
          "Possibly_noisy,Slice_range,Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,"
          "Patient_age,Train_Val_Test")


def row(p, key, box, rng, size, sp=0.8):
    x1, y1, x2, y2 = box
    rec = [x1 + 3, y1 + 3, x2 - 3, y2 - 3, x1 + 3, y2 - 3, x2 - 3, y1 + 3]
    d = ((x2 - x1 - 6) ** 2 + (y2 - y1 - 6) ** 2) ** 0.5
    q = lambda v: '"' + ", ".join("%g" % x for x in v) + '"'
    return ",".join(["%06d_01_01_%03d.png" % (p, key), str(p), "1", "1", str(key), q(rec), q(box),
                     q([d, d]), q([0.5, 0.5, 0.5]), "4", "0", q(rng), q([sp, sp, 5]),
                     q([size, size]), q([-175, 275]), "F", "50", "3"])


def main():
    if sys.argv[1] == "--info":
        w, h, depth, ctype, _, _ = parse(sys.argv[2])
        print(w, h, depth, ctype)
        return
    if sys.argv[1] == "--pixel":
        w, h, depth, ctype, bpp, rows = parse(sys.argv[2])
        x, y = int(sys.argv[3]), int(sys.argv[4])
        r = rows[y][x * bpp:(x + 1) * bpp]
        print(int.from_bytes(r, "big") if ctype == 0 else " ".join(str(v) for v in r))
        return
    d = sys.argv[1]
    img = os.path.join(d, "Images_png")
    for p in (1, 2, 3, 4, 5):
        os.makedirs(os.path.join(img, "%06d_01_01" % p), exist_ok=True)
    s512 = plane16(512, 512)
    for k in range(103, 116):
        open(os.path.join(img, "000001_01_01/%03d.png" % k), "wb").write(s512)
    open(os.path.join(img, "000002_01_01/005.png"), "wb").write(plane16(768, 768)[:])
    open(os.path.join(img, "000003_01_01/010.png"), "wb").write(s512[:len(s512) // 2])
    open(os.path.join(img, "000004_01_01/010.png"), "wb").write(
        png(64, 64, 8, 0, [bytes(64)] * 64))
    with open(os.path.join(d, "DL_info.csv"), "w") as f:
        f.write(HEADER + "\n")
        f.write(row(1, 109, [226, 90, 251, 111], [103, 115], 512) + "\n")
        f.write(row(2, 5, [740, 740, 766, 766], [3, 7], 768) + "\n")
        f.write(row(3, 10, [100, 100, 120, 120], [8, 12], 512) + "\n")
        f.write(row(4, 10, [10, 10, 30, 30], [8, 12], 512) + "\n")
        f.write(row(5, 10, [100, 100, 120, 120], [8, 12], 512) + "\n")


main()
