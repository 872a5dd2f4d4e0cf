#!/usr/bin/env python3
"""bigfix.py - a DeepLesion-format fixture big enough for every filtered-search path, and
its numpy oracle. Used by tests/e2e/bigsearch.sh.

  bigfix.py gen SAMPLE_CSV OUTDIR [ROWS]   DL_info.csv (ROWS rows, default 20480),
      ids.txt, v.npy (float32, 64-d, clustered by type), queries.ndjson
  bigfix.py check OUTDIR SPACE ANSWERS.ndjson MODE   compare the daemon's batch answers
      with a brute force over the raw rows: MODE exact (ids in order, ties by distance
      allowed, and count) or recall>=R (count exact, recall@k printed and at least R)

Rows are the real rows of DL_info_sample.csv (geometry, spacing from 0.31 to 0.98 mm/px
and 0.25 to 5 mm between slices, 768x768 images, non-integer windows, the NaN age),
repeated under new patient numbers, with type, split, gender, age and the noisy flag
redrawn so that every value occurs (noisy rows, NaN ages, every split and type). The
oracle reads the CSV with Python's csv module and its own parsing: no lesiond code.
"""
import csv
import json
import sys

import numpy as np

DIM = 64
NCL = 24


def gen(sample, out, rows):
    real = list(csv.reader(open(sample, newline="")))
    header, real = real[0], real[1:]
    rng = np.random.default_rng(20)
    centres = rng.normal(0, 3, (NCL, DIM))
    vecs = np.empty((rows, DIM), dtype=np.float32)
    with open(out + "/DL_info.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for i in range(rows):
            r = list(real[i % len(real)])
            rep = i // len(real)
            patient = int(r[1]) + 100 * rep
            r[1] = str(patient)
            r[0] = "%06d_%02d_%02d_%03d.png" % (patient, int(r[2]), int(r[3]), int(r[4]))
            c = int(rng.integers(NCL))
            # the type follows the cluster (a type filter empties a neighbourhood)
            r[9] = str(-1 if c < 3 else 1 + c % 8)
            r[10] = "1" if rng.random() < 0.06 else "0"
            r[15] = "M" if rng.random() < 0.5 else "F"
            r[16] = "NaN" if rng.random() < 0.04 else str(int(rng.integers(18, 90)))
            r[17] = str(int(rng.integers(1, 4)))
            w.writerow(r)
            vecs[i] = centres[c] + rng.normal(0, 1, DIM)
    np.save(out + "/v.npy", vecs)
    with open(out + "/ids.txt", "w") as f:
        for i in range(rows):
            f.write("%d\n" % (i + 1))
    # filters of every selectivity: ~0.2% (exact scan) to ~95% (over-fetch)
    filters = [
        {"type": ["lung"], "split": "test", "gender": "F"},            # ~1%
        {"type": ["liver", "kidney"], "exclude_noisy": True},          # ~10%
        {"min_diam_mm": 10, "max_diam_mm": 30},                        # broad
        {"split": "train,test"},                                       # ~67%
        {"min_age": 30, "max_age": 70, "gender": "M"},                 # ~28%
        {"type": ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft_tissue"]},
        {"exclude_noisy": True},                                       # ~94%
        {"type": ["bone", "mediastinum", "lung", "soft_tissue", "pelvis"], "min_diam_mm": 8},
        {"max_age": 60, "split": "val,test"},
        {"min_diam_mm": 40},                                           # a few %
    ]
    with open(out + "/queries.ndjson", "w") as f:
        for j in range(240):
            q = {"lesion_id": int(rng.integers(1, rows + 1)), "k": int(rng.choice([1, 5, 10, 37])),
                 "filter": filters[j % len(filters)]}
            if j % 7 == 3:
                q["filter"] = dict(q["filter"], same_patient="exclude")
            f.write(json.dumps(q) + "\n")


TYPES = {"bone": 1, "abdomen": 2, "mediastinum": 3, "liver": 4, "lung": 5, "kidney": 6,
         "soft_tissue": 7, "pelvis": 8}
SPLITS = {"train": 1, "val": 2, "test": 3}


def load(out):
    rows = list(csv.reader(open(out + "/DL_info.csv", newline="")))[1:]
    a = {
        "patient": np.array([int(r[1]) for r in rows]),
        "type": np.array([int(r[9]) for r in rows]),
        "noisy": np.array([int(r[10]) for r in rows]),
        "gender": np.array([r[15] for r in rows]),
        "age": np.array([float("nan") if r[16] == "NaN" else float(r[16]) for r in rows]),
        "split": np.array([int(r[17]) for r in rows]),
        # long diameter in mm: Lesion_diameters_Pixel_[0] x Spacing_mm_px_[0]
        "diam": np.array([float(r[7].split(",")[0]) * float(r[12].split(",")[0]) for r in rows]),
    }
    return a, np.load(out + "/v.npy").astype(np.float64)


def allowed(a, flt, qid):
    m = np.ones(len(a["type"]), dtype=bool)
    for k, v in flt.items():
        if k == "type":
            m &= np.isin(a["type"], [TYPES[t] for t in v])
        elif k == "split":
            m &= np.isin(a["split"], [SPLITS[s] for s in v.split(",")])
        elif k == "gender":
            m &= a["gender"] == v
        elif k == "exclude_noisy":
            m &= a["noisy"] == 0
        elif k == "min_diam_mm":
            m &= a["diam"] >= v
        elif k == "max_diam_mm":
            m &= a["diam"] <= v
        elif k == "min_age":
            m &= a["age"] >= v          # NaN compares false: unknown ages excluded
        elif k == "max_age":
            m &= a["age"] <= v
        elif k == "same_patient":
            assert v == "exclude"
            m &= a["patient"] != a["patient"][qid - 1]
        else:
            raise SystemExit("unknown filter key " + k)
    m[qid - 1] = False
    return m


def check(out, space, answers, mode):
    a, v = load(out)
    qs = [json.loads(l) for l in open(out + "/queries.ndjson")]
    got = [json.loads(l) for l in open(answers)]
    bad = []
    found = want = ann = afound = awant = 0
    if len(got) != len(qs):
        bad.append("%d answers for %d queries" % (len(got), len(qs)))
    for ans in got:
        ln = ans["line"]
        q = qs[ln - 1]
        if "error" in ans:
            bad.append("line %d: error %s" % (ln, ans["error"]))
            continue
        ann += ans["mode"] == "ann"
        m = allowed(a, q["filter"], q["lesion_id"])
        ids = np.nonzero(m)[0]
        d = ((v[ids] - v[q["lesion_id"] - 1]) ** 2).sum(axis=1)
        order = np.argsort(d, kind="stable")[: q["k"]]
        exp_ids = list(ids[order] + 1)
        exp_d = list(d[order])
        res = ans["results"]
        gid = [r["lesion_id"] for r in res]
        if ans["count"] != len(exp_ids) or len(res) != len(exp_ids):
            bad.append("line %d: count %d, expected %d" % (ln, ans["count"], len(exp_ids)))
        for i, r in enumerate(res):
            if not m[r["lesion_id"] - 1]:
                bad.append("line %d: lesion %d does not pass the filter" % (ln, r["lesion_id"]))
        if mode == "exact":
            for i in range(min(len(gid), len(exp_ids))):
                if gid[i] != exp_ids[i]:
                    dg = ((v[gid[i] - 1] - v[q["lesion_id"] - 1]) ** 2).sum()
                    if abs(dg - exp_d[i]) > 1e-4 * (1 + exp_d[i]):
                        bad.append("line %d rank %d: lesion %d, expected %d" %
                                   (ln, i + 1, gid[i], exp_ids[i]))
                        break
        want += len(exp_ids)
        found += len(set(gid) & set(exp_ids))
        if ans["mode"] == "ann":
            awant += len(exp_ids)
            afound += len(set(gid) & set(exp_ids))
    r = found / max(want, 1)
    print("# %s: %d answers, recall@k %.4f; the %d answered through the approximate index: "
          "recall@k %.4f" % (space, len(got), r, ann, afound / max(awant, 1)))
    if mode.startswith("recall>="):
        if r < float(mode[8:]):
            bad.append("recall %.4f under %s" % (r, mode[8:]))
    for b in bad[:10]:
        print("# " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 20480)
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))
