#!/usr/bin/env python3
"""replica_batch.py PRIMARY REPLICA LESION - is a batch answered by a replica one state?

While a writer moves LESION's vector in space "a" on the primary every 20 ms (write i puts
it at Q + 0.01 i along the first axis, so every applied diff changes its distance to Q),
the same query Q is sent N times in one batch to the replica, and the reply is read slowly
(a small receive buffer, at most 10 MB/s), so that a reply computed while it is sent spans
several applied diffs. Every line (NDJSON) / row (.npz) must then be the same answer, and
LESION must be its first hit. Prints one line per format:
    <format> <answers> <distinct answers> <first hit is LESION: 0/1> <seconds> <bytes> <writes>
"""
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import zipfile
import io

PRIMARY, REPLICA, LESION = sys.argv[1], sys.argv[2], int(sys.argv[3])
DIM = 16
Q = [-7.0] * DIM


def writer(stop, count):
    i = 0
    while not stop.is_set():
        i += 1
        v = list(Q)
        v[0] += 0.01 * i
        req = urllib.request.Request("%s/v1/lesions/%d/embedding?space=a" % (PRIMARY, LESION),
                                     data=json.dumps(v).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
        count[0] = i
        time.sleep(0.02)


def post_slowly(path, ctype, body):
    """POST to the replica, read the reply ~8 MB/s; returns (status, de-chunked body)."""
    u = urllib.parse.urlparse(REPLICA)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.connect((u.hostname, u.port))
    s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
               "Connection: close\r\n\r\n" % (path, ctype, len(body))).encode() + body)
    raw = bytearray()
    while True:
        b = s.recv(32768)
        if not b:
            break
        raw += b
        time.sleep(0.003)
    s.close()
    head, _, rest = bytes(raw).partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"chunked" not in head.lower():
        return status, rest
    out, pos = bytearray(), 0
    while True:
        eol = rest.index(b"\r\n", pos)
        n = int(rest[pos:eol].split(b";")[0], 16)
        if n == 0:
            return status, bytes(out)
        out += rest[eol + 2:eol + 2 + n]
        pos = eol + 2 + n + 2


def npy(member):
    hl = struct.unpack("<H", member[8:10])[0]
    return member[10 + hl:]


def main():
    stop, count = threading.Event(), [0]
    t = threading.Thread(target=writer, args=(stop, count))
    t.start()
    time.sleep(0.5)
    try:
        # NDJSON: 1,024 queries, k = 40 (4 blocks of 256 when computed as the client reads)
        line = json.dumps({"vector": Q, "space": "a", "k": 40}) + "\n"
        t0 = time.time()
        st, body = post_slowly("/v1/search/batch", "application/x-ndjson", (line * 1024).encode())
        dt = time.time() - t0
        answers = [json.loads(x) for x in body.decode().splitlines() if x]
        keys = set(json.dumps(a.get("results"), sort_keys=True) for a in answers)
        first = all(a.get("results") and a["results"][0]["lesion_id"] == LESION for a in answers)
        print("ndjson %d %d %d %.1f %d %d %d" % (len(answers) if st == 200 else -st, len(keys),
                                                 first, dt, len(body), count[0], st))
        # .npz: 12,288 queries, k = 100 (3 blocks of 4,096)
        rows = 12288
        hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, DIM)
        hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
        q = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode()
        q += struct.pack("<%df" % DIM, *Q) * rows
        t0 = time.time()
        st, body = post_slowly("/v1/search/batch?space=a&k=100&format=npz", "application/x-npy", q)
        dt = time.time() - t0
        if st != 200:
            print("npz %d 0 0 %.1f %d %d %d" % (-st, dt, len(body), count[0], st))
            return
        z = zipfile.ZipFile(io.BytesIO(body))
        ids, dist = npy(z.read("ids.npy")), npy(z.read("distances.npy"))
        rid = set(ids[i * 800:(i + 1) * 800] for i in range(rows))
        rdist = set(dist[i * 400:(i + 1) * 400] for i in range(rows))
        first = all(struct.unpack("<q", ids[i * 800:i * 800 + 8])[0] == LESION for i in range(rows))
        print("npz %d %d %d %.1f %d %d %d" % (rows, max(len(rid), len(rdist)), first, dt, len(body),
                                              count[0], st))
    finally:
        stop.set()
        t.join()


main()
