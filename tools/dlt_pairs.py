#!/usr/bin/env python3
"""dlt_pairs.py - map DLS lesion-tracking entries to DL_info rows (same-lesion pairs).

  dlt_pairs.py --rows A.csv [--rows B.csv ...] --entries E.csv [--entries F.csv ...] [--out PAIRS.csv]

Rows: DL_info.csv files in official order; the first data row of the first file is
lesion id 1 and ids continue across files (so the shared sample's 260 rows, then the
rows from 261 on, give official row numbers). Entries: CSV with the header
  file,key,source_slice,sx1,sy1,sx2,sy2,s_long,s_short,target_slice,tx1,ty1,tx2,ty2,t_long,t_short
(one line per entry of the DLT set's valid.json / test.json; the four numbers are the
RECIST long axis endpoints, 0-based pixels as DLT writes them).

The rule (docs/k19_preregistration.md, attempt 5): an entry's end maps to the row with the
same key slice whose long-axis endpoints (Measurement_coordinates x11,y11,x12,y12) lie
within 4 px of the entry's, in either endpoint order. An end that maps to no row or to
several, or both ends to one row, is reported and its entry dropped. An entry whose
source patient has no row in the files is out of range and skipped (counted). Pairs are
unordered and deduplicated; a pair not named by exactly its two directions is reported.
Output: lesion_a,lesion_b,
file_a,file_b,source (source = the first entry naming the pair), sorted by lesion_a.
Errors (a malformed row or entry) print FILE:LINE and exit 1.
"""
import argparse
import csv
import math
import sys

TOL = 4.0
ROW_HEADER_FIELDS = 18
ENTRY_HEADER = ("file,key,source_slice,sx1,sy1,sx2,sy2,s_long,s_short,"
                "target_slice,tx1,ty1,tx2,ty2,t_long,t_short").split(",")


def die(where, msg):
    sys.stderr.write("%s: %s\n" % (where, msg))
    sys.exit(1)


def floats(where, s, n):
    try:
        v = [float(x) for x in s.split(",")]
    except ValueError:
        die(where, "not numbers: %r" % s)
    if len(v) != n or not all(math.isfinite(x) for x in v):
        die(where, "want %d finite numbers: %r" % (n, s))
    return v


def read_rows(paths):
    """slice file name -> [(lesion id, (x11, y11, x12, y12))], and the patients seen"""
    by_slice, patients, lid = {}, set(), 0
    for path in paths:
        with open(path, newline="") as f:
            rd = csv.reader(f)
            head = next(rd, None)
            if head is None or len(head) != ROW_HEADER_FIELDS or head[0] != "File_name":
                die("%s:1" % path, "not a DL_info.csv header")
            for row in rd:
                where = "%s:%d" % (path, rd.line_num)
                if len(row) != ROW_HEADER_FIELDS:
                    die(where, "%d fields, want %d" % (len(row), ROW_HEADER_FIELDS))
                lid += 1
                try:
                    patient = int(row[1])
                except ValueError:
                    die(where, "bad Patient_index %r" % row[1])
                c = floats(where, row[5], 8)
                by_slice.setdefault(row[0], []).append((lid, tuple(c[:4])))
                patients.add(patient)
    return by_slice, patients


def dist(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def end_cost(e, r):
    """max endpoint distance, the better of the two endpoint orders"""
    p1, p2, q1, q2 = e[:2], e[2:], r[:2], r[2:]
    return min(max(dist(p1, q1), dist(p2, q2)), max(dist(p1, q2), dist(p2, q1)))


def map_end(by_slice, slice_name, coords):
    name = slice_name.replace("/", "_")
    hits = [lid for (lid, c) in by_slice.get(name, []) if end_cost(coords, c) <= TOL]
    return hits, name


def rows_of(hits):
    return "%d rows" % len(hits) if len(hits) != 1 else "row %d" % hits[0]


def main(argv):
    ap = argparse.ArgumentParser(description="map DLS lesion-tracking entries to DL_info rows")
    ap.add_argument("--rows", action="append", required=True, help="DL_info.csv, in official order")
    ap.add_argument("--entries", action="append", required=True, help="entries CSV")
    ap.add_argument("--out", help="pairs CSV (default: stdout)")
    args = ap.parse_args(argv[1:])
    rows, entries, out = args.rows, args.entries, args.out
    by_slice, patients = read_rows(rows)
    pairs, count, names, dropped, out_of_range, seen = {}, {}, {}, 0, 0, 0
    for path in entries:
        with open(path, newline="") as f:
            rd = csv.reader(f)
            if next(rd, None) != ENTRY_HEADER:
                die("%s:1" % path, "want the header %s" % ",".join(ENTRY_HEADER))
            for e in rd:
                where = "%s:%d" % (path, rd.line_num)
                if len(e) != len(ENTRY_HEADER):
                    die(where, "%d fields, want %d" % (len(e), len(ENTRY_HEADER)))
                try:
                    sp = int(e[2][:6])
                except ValueError:
                    die(where, "bad source slice %r" % e[2])
                if sp not in patients:
                    out_of_range += 1
                    continue
                seen += 1
                s = floats(where, ",".join(e[3:7]), 4)
                t = floats(where, ",".join(e[10:14]), 4)
                a, an = map_end(by_slice, e[2], s)
                b, bn = map_end(by_slice, e[9], t)
                if len(a) != 1 or len(b) != 1 or a == b:
                    sys.stderr.write("%s: %s#%s dropped: source %s maps to %s, target %s to %s\n"
                                     % (where, e[0], e[1], e[2], rows_of(a), e[9], rows_of(b)))
                    dropped += 1
                    continue
                key = (min(a[0], b[0]), max(a[0], b[0]))
                names[a[0]], names[b[0]] = an, bn
                pairs.setdefault(key, "%s#%s" % (e[0], e[1]))
                count[key] = count.get(key, 0) + 1
    fo = open(out, "w", newline="") if out else sys.stdout
    fo.write("lesion_a,lesion_b,file_a,file_b,source\n")
    for (la, lb), src in sorted(pairs.items()):
        fo.write("%d,%d,%s,%s,%s\n" % (la, lb, names[la], names[lb], src))
    if out:
        fo.close()
    for key in sorted(k for k, n in count.items() if n != 2):
        sys.stderr.write("dlt_pairs: pair %d,%d named by %d entries (want 2: one per direction)\n"
                         % (key[0], key[1], count[key]))
    sys.stderr.write("dlt_pairs: %d entries in range (%d out of range), %d dropped, %d pairs\n"
                     % (seen, out_of_range, dropped, len(pairs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
