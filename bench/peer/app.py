"""The Python peer of lesiond for `make bench`: the two routes that bench/bench_peer.sh and
bench/bench_search.sh compare, written the way a Flask service on FAISS and PIL would be.

  GET /v1/lesions/<id>/similar?k=10        exact k nearest (faiss.IndexFlatL2), JSON
  GET /v1/lesions/<id>/patch.png?window=lung&size=128
                                           the lesion's square patch (field of view as
                                           lesiond's default), windowed, 8-bit PNG

Data: the same lesiond SQLite file (PEER_DB), read once at start (lesions and the
vectors of space PEER_SPACE, default builtin); slices from PEER_IMAGES. Decoded slices
are kept in an LRU of PEER_SLICE_CACHE slices per worker (default 512: the "warm" state
lesiond's slice cache gives it; 0 decodes the PNG on every request).
Run under gunicorn with OMP_NUM_THREADS=1 (one FAISS thread per worker process).
"""
import functools
import io
import os
import sqlite3

import faiss
import numpy as np
from flask import Flask, Response, abort, jsonify, request
from PIL import Image

WINDOWS = {"lung": (1500, -600), "soft_tissue": (400, 50), "bone": (1800, 400)}

app = Flask(__name__)


def _load():
    db = sqlite3.connect("file:%s?mode=ro" % os.environ["PEER_DB"], uri=True)
    space = os.environ.get("PEER_SPACE", "builtin")
    meta = {}
    for row in db.execute(
            "SELECT id, patient, study, series, key_slice, type, split, diam_long_mm, "
            "diam_short_mm, loc_x, loc_y, loc_z, box_x1, box_y1, box_x2, box_y2, "
            "spacing_x, spacing_y, image_path FROM lesions"):
        meta[row[0]] = row[1:]
    ids, vecs = [], []
    for lid, blob in db.execute(
            "SELECT lesion_id, vec FROM vectors WHERE space = ? ORDER BY lesion_id", (space,)):
        ids.append(lid)
        vecs.append(np.frombuffer(blob, dtype="<f4"))
    db.close()
    x = np.vstack(vecs).astype(np.float32) if vecs else np.zeros((0, 1), np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return meta, np.array(ids, dtype=np.int64), {lid: i for i, lid in enumerate(ids)}, x, index


META, IDS, ROW, VECS, INDEX = _load()


def _summary(lid):
    m = META.get(lid)
    if m is None:
        return None
    return {"id": lid, "patient": m[0], "study": m[1], "series": m[2], "key_slice": m[3],
            "type": m[4], "split": m[5], "diameters_mm": [round(m[6], 4), round(m[7], 4)],
            "normalized_location": [round(m[8], 6), round(m[9], 6), round(m[10], 6)]}


@app.get("/v1/lesions/<int:lid>/similar")
def similar(lid):
    k = request.args.get("k", "10")
    if not k.isdigit() or not 1 <= int(k) <= 1000:
        abort(400)
    k = int(k)
    row = ROW.get(lid)
    if row is None:
        abort(404)
    dist, idx = INDEX.search(VECS[row:row + 1], k + 1)
    results = []
    for d, i in zip(dist[0], idx[0]):
        if i < 0 or IDS[i] == lid or len(results) == k:
            continue
        hit = int(IDS[i])
        results.append({"rank": len(results) + 1, "lesion_id": hit, "distance": float(d),
                        "lesion": _summary(hit),
                        "patch_url": "/v1/lesions/%d/patch.png" % hit})
    return jsonify({"query": {"lesion_id": lid}, "k": k, "mode": "exact",
                    "count": len(results), "results": results})


@functools.lru_cache(maxsize=int(os.environ.get("PEER_SLICE_CACHE", "512")))
def _slice_hu(rel):
    """The slice in Hounsfield units (DeepLesion PNGs store HU + 32768), as a float image."""
    with Image.open(os.path.join(os.environ["PEER_IMAGES"], rel)) as im:
        a = np.asarray(im, dtype=np.int32) - 32768
    return Image.fromarray(a.astype(np.float32), mode="F")


@app.get("/v1/lesions/<int:lid>/patch.png")
def patch(lid):
    m = META.get(lid)
    if m is None:
        abort(404)
    size = int(request.args.get("size", "128"))
    width, level = WINDOWS.get(request.args.get("window", "soft_tissue"), WINDOWS["soft_tissue"])
    x1, y1, x2, y2, sx, sy, rel = m[11], m[12], m[13], m[14], m[15], m[16], m[17]
    # lesiond's default field of view: twice the long diameter, at least 1.5x the box
    fov = max(2 * m[6], 1.5 * max(abs(x2 - x1) * sx, abs(y2 - y1) * sy))
    fov = min(max(fov, 40.0), 500.0)
    cx, cy = (x1 + x2) / 2 - 1, (y1 + y2) / 2 - 1
    hw, hh = fov / sx / 2, fov / sy / 2
    img = _slice_hu(rel).transform((size, size), Image.EXTENT,
                                   (cx - hw, cy - hh, cx + hw, cy + hh), Image.BILINEAR)
    lo, hi = level - width / 2, level + width / 2
    px = np.clip((np.asarray(img) - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(px, mode="L").save(buf, "PNG", compress_level=1)
    return Response(buf.getvalue(), mimetype="image/png",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})
