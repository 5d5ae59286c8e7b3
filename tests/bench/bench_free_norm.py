"""bench-free-norm: how fast could the normalized path be if normalizing cost nothing but its bytes?

The normalized path differs from the as-received one in two ways: the loop thread maps, validates and
serializes every event (CPU), and what it stores and ships is the OCSF output, ~2.15x the input's bytes
(every later stage: spool writer, WAL checkpoint, sink). ocsf-bench --same-bytes separates them only in
part: it pads the *input*, so its runs also read and parse the bigger lines.

This benchmark builds a throw-away collector from the source tree with free_norm.patch applied (with
OCSF_BENCH_PAD_TO set, spool_record_new stores each event padded to that many bytes: on the as-received
path, after the event was parsed as received, that is normalization emulated as free, at the normalized
output's size) and runs, per round, in rotating order:
  as received | as received, stored padded to the normalized mean line | normalized.
It prints each round's end-to-end events/s and the ratios, then their geometric means. The ratio
padded/as-received is the most the real normalized/as-received ratio can reach at this output size.

Environment: OCSF_BUILD_DIR (the build with ocsf-bench), OCSF_SOURCE_DIR, BENCH_FREE_NORM_ROUNDS (4),
BENCH_FREE_NORM_EVENTS (200000), BENCH_FREE_NORM_WINDOW (1000).
Not part of the test suite: cmake --build build --target bench-free-norm."""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

BUILD = os.path.abspath(os.environ.get("OCSF_BUILD_DIR", "build"))
SOURCE = os.path.abspath(os.environ.get("OCSF_SOURCE_DIR", "."))
BENCH = os.path.join(BUILD, "tools", "ocsf-bench")
PATCH = os.path.join(SOURCE, "tests", "bench", "free_norm.patch")
ROUNDS = int(os.environ.get("BENCH_FREE_NORM_ROUNDS", "4"))
EVENTS = int(os.environ.get("BENCH_FREE_NORM_EVENTS", "200000"))
WINDOW = int(os.environ.get("BENCH_FREE_NORM_WINDOW", "1000"))


def build_patched(tmp):
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    # the working tree as it is (tracked files), not only what is committed
    files = subprocess.run(["git", "-C", SOURCE, "ls-files", "-z"], check=True,
                           stdout=subprocess.PIPE).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        path = f.decode()
        os.makedirs(os.path.join(src, os.path.dirname(path)), exist_ok=True)
        shutil.copy2(os.path.join(SOURCE, path), os.path.join(src, path))
    r = subprocess.run(["git", "apply", "-p1", PATCH], cwd=src,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit("bench-free-norm: %s no longer applies to collector/spool.c; refresh it "
                 "(patch said: %s)" % (PATCH, r.stdout.strip()))
    out = os.path.join(tmp, "build")
    subprocess.run(["cmake", "-S", src, "-B", out, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", out, "-j2", "--target", "ocsf-collector"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(out, "collector", "ocsf-collector")


def run(daemon, normalize, pad_to=0):
    env = dict(os.environ)
    env.pop("OCSF_BENCH_PAD_TO", None)
    if pad_to:
        env["OCSF_BENCH_PAD_TO"] = str(pad_to)
    cmd = [BENCH, "--spawn", daemon, "-n", str(EVENTS), "-c", "4", "--window", str(WINDOW),
           "--json", "--spawn-arg=--normalize", "--spawn-arg=" + ("on" if normalize else "off")]
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                       timeout=600)
    if r.returncode != 0:
        sys.exit("bench-free-norm: ocsf-bench failed (%s): %s" % (" ".join(cmd), r.stdout[-500:]))
    return json.loads(r.stdout)


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    tmp = tempfile.mkdtemp(prefix="bench-free-norm-")
    try:
        daemon = build_patched(tmp)
        first = run(daemon, True)
        pad_to = int(round(first["sink_bytes"] / first["sink_lines"])) - 1  # without the newline
        print("workload: %d events, 4 connections, window %d; normalized mean line %d bytes, "
              "input mean %.0f bytes" % (EVENTS, WINDOW, pad_to, first["mean_event_bytes"]))
        kinds = ["as_received", "padded_free_norm", "normalized"]
        ratios = {"padded/as_received": [], "normalized/as_received": [],
                  "normalized/padded": []}
        for i in range(ROUNDS):
            order = kinds[i % 3:] + kinds[:i % 3]
            rate = {}
            for k in order:
                res = run(daemon, k == "normalized", pad_to if k == "padded_free_norm" else 0)
                if k == "padded_free_norm" and \
                        res["sink_bytes"] != res["sink_lines"] * (pad_to + 1):
                    sys.exit("bench-free-norm: padded run shipped %d bytes for %d lines, expected "
                             "%d each" % (res["sink_bytes"], res["sink_lines"], pad_to + 1))
                rate[k] = res["e2e_events_per_s"]
            r1 = rate["padded_free_norm"] / rate["as_received"]
            r2 = rate["normalized"] / rate["as_received"]
            r3 = rate["normalized"] / rate["padded_free_norm"]
            ratios["padded/as_received"].append(r1)
            ratios["normalized/as_received"].append(r2)
            ratios["normalized/padded"].append(r3)
            print("round %d (%s first): end-to-end events/s as received %.0f, padded (free "
                  "normalization) %.0f, normalized %.0f; padded/as received %.3f, normalized/as "
                  "received %.3f, normalized/padded %.3f" %
                  (i + 1, order[0], rate["as_received"], rate["padded_free_norm"],
                   rate["normalized"], r1, r2, r3))
        for name, xs in ratios.items():
            print("%-24s geometric mean %.3f, min %.3f, max %.3f" %
                  (name, gmean(xs), min(xs), max(xs)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
