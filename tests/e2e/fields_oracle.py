#!/usr/bin/env python3
"""fields_oracle.py - the reference for tests/e2e/fields.sh, with Python's csv module only.

  fields_oracle.py gen SAMPLE OUT     the sample rows + 12 synthetic rows
  fields_oracle.py check CSV GOT      GOT: one GET /v1/lesions/{id} body per line, ids 1..
  fields_oracle.py count CSV QUERY    how many rows a /v1/lesions filter keeps
"""
import csv
import json
import math
import sys
from urllib.parse import parse_qs

TYPES = ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft_tissue", "pelvis"]
SPLITS = ["train", "val", "test"]


def nums(s):
    return [float(x) for x in s.split(",")]


def gen(sample, out):
    rows = list(csv.reader(open(sample, newline="")))
    header, real = rows[0], rows[1:]
    extra = []
    for j in range(12):
        r = list(real[j * 7])
        patient = 51 + j
        r[1] = str(patient)
        r[0] = "%06d_%02d_%02d_%03d.png" % (patient, int(r[2]), int(r[3]), int(r[4]))
        r[10] = "1" if j < 9 else "0"                 # Possibly_noisy = 1
        r[17] = str(1 + j % 3)                         # noisy rows in every split
        r[9] = str([-1, 1, 2, 3, 4, 5, 6, 7, 8, 5, 4, -1][j])
        if j == 3:
            r[15] = ""                                 # unknown gender
        if j == 4:
            r[16] = "0"
        if j == 5:
            r[16] = "NaN"
        sp = nums(r[12])
        if j == 6:
            r[12] = "0.2, 0.2, %g" % sp[2]             # finer than any real row
        if j == 7:
            r[12] = "2, 2, 0.25"
        extra.append(r)
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(real + extra)


def load(path):
    return list(csv.reader(open(path, newline="")))[1:]


def near(a, b):
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def check(path, got):
    rows = load(path)
    answers = [json.loads(l) for l in open(got) if l.strip()]
    bad = []
    if len(answers) != len(rows):
        bad.append("%d answers for %d rows" % (len(answers), len(rows)))
    for i, (r, g) in enumerate(zip(rows, answers), 1):
        def err(what, want):
            bad.append("lesion %d %s: got %r, CSV says %r" % (i, what, g.get(what), want))
        if g.get("id") != i:
            err("id", i)
        if g.get("file_name") != r[0]:
            err("file_name", r[0])
        for k, col in (("patient", 1), ("study", 2), ("series", 3), ("key_slice", 4)):
            if g.get(k) != int(r[col]):
                err(k, int(r[col]))
        for k, col in (("measurement_coordinates", 5), ("bounding_box", 6), ("diameters_px", 7),
                       ("normalized_location", 8), ("spacing_mm_px", 12), ("dicom_window", 14)):
            want = nums(r[col])
            v = g.get(k)
            if not isinstance(v, list) or len(v) != len(want) or not all(near(a, b) for a, b in zip(v, want)):
                err(k, want)
        for k, col in (("slice_range", 11), ("image_size", 13)):
            if g.get(k) != [int(float(x)) for x in r[col].split(",")]:
                err(k, r[col])
        t = int(r[9])
        if g.get("type") != (t if t > 0 else None) and g.get("type") != t:
            err("type", t)
        if g.get("type_name") != (TYPES[t - 1] if t > 0 else None):
            err("type_name", TYPES[t - 1] if t > 0 else None)
        if g.get("possibly_noisy") is not (r[10] == "1"):
            err("possibly_noisy", r[10] == "1")
        if g.get("gender") != (r[15] if r[15] in ("M", "F") else None):   # unknown: null
            err("gender", r[15] or None)
        age = None if r[16] == "NaN" else float(r[16])
        if (age is None) != (g.get("age") is None) or (age is not None and not near(g["age"], age)):
            err("age", age)
        if g.get("split") != int(r[17]) or g.get("split_name") != SPLITS[int(r[17]) - 1]:
            err("split", r[17])
        d = nums(r[7])
        s = nums(r[12])[0]
        want = [round(d[0] * s, 4), round(d[1] * s, 4)]
        if not isinstance(g.get("diameters_mm"), list) or not all(near(a, b) for a, b in zip(g["diameters_mm"], want)):
            err("diameters_mm", want)
        p = r[0]
        if g.get("image_path") != "%s/%s" % (p[:12], p[13:]):
            err("image_path", p)
    for b in bad[:15]:
        print("# " + b)
    return 1 if bad else 0


def count(path, query):
    q = {k: v[0] for k, v in parse_qs(query).items()}
    n = 0
    for r in load(path):
        t, split, age = int(r[9]), int(r[17]), None if r[16] == "NaN" else float(r[16])
        dmm = nums(r[7])[0] * nums(r[12])[0]
        if q.get("exclude_noisy") == "true" and r[10] == "1":
            continue
        if "min_age" in q and (age is None or age < float(q["min_age"])):
            continue
        if "max_age" in q and (age is None or age > float(q["max_age"])):
            continue
        if "split" in q and SPLITS[split - 1] not in q["split"].split(","):
            continue
        if "type" in q and (t < 1 or TYPES[t - 1] not in q["type"].split(",")):
            continue
        if "min_diam_mm" in q and dmm < float(q["min_diam_mm"]):
            continue
        if "max_diam_mm" in q and dmm > float(q["max_diam_mm"]):
            continue
        if "patient" in q and int(r[1]) != int(q["patient"]):
            continue
        if "study" in q and int(r[2]) != int(q["study"]):
            continue
        if "gender" in q and r[15] != q["gender"]:
            continue
        n += 1
    print(n)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], sys.argv[3])
    elif cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(count(sys.argv[2], sys.argv[3]))
