#!/usr/bin/env python3
"""mutate.py - `make mutate`: apply each one-line mutation of tools/mutants.txt to a
scratch copy of the tree (git HEAD), rebuild, run the tests named for it, and report
which mutants survived. Not part of CI (it takes ~20-40 minutes on 2 cores).

  python3 tools/mutate.py [SCRATCH_DIR] [N...]   (N: only these mutant numbers, 1-based)
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "/tmp/lesiond-mutate")
ONLY = [int(x) for x in sys.argv[2:]]


def mutants():
    out = []
    for line in open(os.path.join(ROOT, "tools/mutants.txt")):
        if not line.strip() or line.startswith("#"):
            continue
        f, old, new, tests = [x for x in line.rstrip("\n").split(" | ")]
        out.append((f.strip(), old, new, tests.split()))
    return out


def sh(cmd, log, timeout=None, env=None):
    with open(log, "ab") as lf:
        try:
            return subprocess.run(cmd, shell=True, cwd=SCRATCH, stdout=lf, stderr=lf,
                                  timeout=timeout, env=env).returncode
        except subprocess.TimeoutExpired:
            return "timeout"


BASE_FAILED = {}


def run_test(t, log, env):
    """0 when the test passed (no more failures than on the unmutated copy, for tests
    with timing checks that fail on a loaded machine); else a short reason."""
    if t.endswith(".sh"):
        cmd = "sh tests/e2e/%s" % t
    else:
        cmd = "build/release/tests/%s" % t
    out = os.path.join(SCRATCH, "build/mut-test.out")
    with open(out, "wb") as of:
        try:
            rc = subprocess.run(cmd, shell=True, cwd=SCRATCH, stdout=of, stderr=subprocess.STDOUT,
                                timeout=600, env=env).returncode
        except subprocess.TimeoutExpired:
            return "timeout"
    text = open(out, errors="replace").read()
    with open(log, "a") as lf:
        lf.write(text[-3000:])
    res = [l for l in text.splitlines() if l.startswith("RESULT ")]
    if not res:
        return "died (exit %s)" % rc
    failed = int(res[-1].split()[2])
    if t in BASE_FAILED:
        return "%d failed (baseline %d)" % (failed, BASE_FAILED[t]) if failed > BASE_FAILED[t] else 0
    if failed or rc:
        return "%d failed" % failed
    return 0


def main():
    ms = mutants()
    os.makedirs(SCRATCH, exist_ok=True)
    subprocess.run("rm -rf src && mkdir src && git -C %s archive HEAD | tar -x -C src" % ROOT,
                   shell=True, cwd=SCRATCH, check=True)
    global SCRATCH_SRC
    base = SCRATCH
    globals()["SCRATCH"] = os.path.join(base, "src")
    os.makedirs(os.path.join(SCRATCH, "build"), exist_ok=True)
    deps = os.path.realpath(os.path.join(ROOT, "build/deps"))
    os.symlink(deps, os.path.join(SCRATCH, "build/deps"))
    nm = os.path.join(ROOT, "tests/e2e/node_modules")
    if os.path.isdir(nm):
        os.symlink(nm, os.path.join(SCRATCH, "tests/e2e/node_modules"))
    log = os.path.join(base, "mutate.log")
    open(log, "w").close()
    env = dict(os.environ)
    env["LESIOND"] = os.path.join(SCRATCH, "build/release/lesiond")
    env["LSD_TEST_TMP"] = os.path.join(SCRATCH, "build/test/mut")
    env.setdefault("LSD_SHARED_DATA", os.path.join(os.path.dirname(ROOT.rstrip("/")), "shared/data/deeplesion"))
    if not os.path.isdir(env["LSD_SHARED_DATA"]):
        env["LSD_SHARED_DATA"] = "/work/shared/data/deeplesion"
    os.makedirs(env["LSD_TEST_TMP"], exist_ok=True)
    units = sorted({t for m in ms for t in m[3] if not t.endswith(".sh")})
    targets = "all " + " ".join("build/release/tests/" + u for u in units)
    print("baseline: building and running every named test on the unmutated copy", flush=True)
    if sh("make -j2 " + targets, log) != 0:
        sys.exit("baseline build failed (see %s)" % log)
    for t in sorted({t for m in ms for t in m[3]}):
        if os.environ.get("MUTATE_SKIP_BASELINE"):
            break
        r = run_test(t, log, env)
        if r:
            r = run_test(t, log, env)
        if r:
            if "died" in r or "timeout" in r:
                sys.exit("baseline: %s fails without any mutation (%s): fix that first" % (t, r))
            BASE_FAILED[t] = int(r.split()[0])
            print("baseline: %s has %s without any mutation (a loaded machine?); a mutant "
                  "must add failures to count as killed" % (t, r), flush=True)
    killed, survived, invalid = [], [], []
    for n, (f, old, new, tests) in enumerate(ms, 1):
        if ONLY and n not in ONLY:
            continue
        path = os.path.join(SCRATCH, f)
        orig = open(path).read()
        o, w = old.replace("\\n", "\n"), new.replace("\\n", "\n")
        if o not in orig:
            print("%2d  NOT APPLIED (text not found) %s: %s" % (n, f, old), flush=True)
            survived.append((n, f, old, "text not found"))
            continue
        open(path, "w").write(orig.replace(o, w, 1))
        t0 = time.time()
        with open(log, "a") as lf:
            lf.write("\n==== mutant %d: %s: %s -> %s\n" % (n, f, old, new))
        why = None
        # only what this mutant's tests run: the daemon for black-box tests, the unit binaries
        need = " ".join(("build/release/lesiond" if t.endswith(".sh") else "build/release/tests/" + t)
                        for t in tests)
        if sh("make -j2 " + need, log) != 0:
            open(path, "w").write(orig)
            os.utime(path, None)
            invalid.append((n, f, old))
            print("%2d  INVALID  (does not compile: fix the mutant) %s: %s" % (n, f, old.strip()),
                  flush=True)
            continue
        else:
            for t in tests:
                r = run_test(t, log, env)
                if r:
                    why = "%s: %s" % (t, r)
                    break
        open(path, "w").write(orig)
        os.utime(path, None)
        # (the restored file is newer than its object: the next build recompiles it)
        if why:
            killed.append(n)
            print("%2d  killed   (%s, %.0f s)  %s: %s" % (n, why, time.time() - t0, f, old.strip()),
                  flush=True)
        else:
            survived.append((n, f, old, " ".join(tests)))
            print("%2d  SURVIVED (%.0f s)  %s: %s" % (n, time.time() - t0, f, old.strip()), flush=True)
    total = len(killed) + len(survived)
    print("\nmutation score: %d of %d killed (%.0f%%)" % (len(killed), total,
                                                          100.0 * len(killed) / max(total, 1)))
    for n, f, old, tests in survived:
        print("survivor %d: %s: %s (ran: %s)" % (n, f, old.strip(), tests))
    for n, f, old in invalid:
        print("invalid %d: %s: %s (does not compile; not counted)" % (n, f, old.strip()))
    sh("make -j2 " + targets, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
