"""ocsf-bench --spawn reports the spawned collector's CPU per event by thread name (from /proc/PID/task/*/stat).

The figures come in clock ticks (usually 10 ms per thread), so the run must be long enough for the loop thread and
the spool writer to use a few ticks each: 10,000 events take ~0.4 s here and give each of them 10+ ticks (2,000
events gave the writer 2-5 ticks, too close to zero for an assertion). The bound (< 100,000 us per event) only
catches a unit or divisor error: the real figures are ~10-30 us (x3 under ASan).
"""

import json
import os
import subprocess

import harness
from harness import scaled

EVENTS = 10000


class BenchCpuTest(harness.CollectorTestCase):

    def run_bench(self, args):
        harness.require_binary(harness.BENCH)
        env = dict(os.environ, TMPDIR=self.tmp)  # the spawned collector's temp dir goes under ours
        r = subprocess.run([harness.BENCH] + args + ["--timeout", str(scaled(30))], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=scaled(60))
        self.assertEqual(r.returncode, 0, "ocsf-bench failed: %s" % r.stderr.decode(errors="replace")[-2000:])
        self.assertNotIn(b"cpu breakdown unavailable", r.stderr)
        return r

    def test_spawn_json_has_cpu_per_thread(self):
        harness.require_binary(harness.DAEMON)
        r = self.run_bench(["--spawn", harness.DAEMON, "-n", str(EVENTS), "-c", "2", "--json"])
        out = json.loads(r.stdout)
        self.assertEqual(out["sink_lines"], EVENTS)
        cpu = out.get("cpu_us_per_event")
        self.assertIsInstance(cpu, dict, "no cpu_us_per_event in %s" % out)
        for name in ("ocsf-collector", "ocsf-writer"):
            self.assertIn(name, cpu, "thread %s missing from %s" % (name, cpu))
            self.assertGreater(cpu[name], 0, cpu)
            self.assertLess(cpu[name], 100000, cpu)
        for name, us in cpu.items():  # threads that used no CPU are left out
            self.assertGreater(us, 0, "%s listed with no CPU: %s" % (name, cpu))
        io = out.get("io_bytes_per_event")  # optional: /proc/PID/task/*/io may be unreadable
        if io is not None and "ocsf-collector" in io:
            # the loop thread reads every event off the sockets once
            read = io["ocsf-collector"]["read"]
            self.assertGreater(read, 0.5 * out["mean_event_bytes"], io)
            self.assertLess(read, 2 * out["mean_event_bytes"], io)

    def test_spawn_text_prints_cpu_line(self):
        harness.require_binary(harness.DAEMON)
        r = self.run_bench(["--spawn", harness.DAEMON, "-n", str(EVENTS), "-c", "2", "--window", "1000"])
        lines = [l for l in r.stdout.decode().splitlines() if l.startswith("  cpu/event ")]
        self.assertEqual(len(lines), 1, r.stdout.decode())
        self.assertIn(" ocsf-collector ", lines[0])
        self.assertIn(" total ", lines[0])
        self.assertTrue(lines[0].endswith(" us"), lines[0])

    def test_to_has_no_cpu_breakdown(self):
        """With --to the collector is not ours: nothing about its threads is printed."""
        col = self.collector()
        r = self.run_bench(["--to", col.url("tcp"), "-n", "500", "-c", "2", "--json"])
        out = json.loads(r.stdout)
        self.assertNotIn("cpu_us_per_event", out)
        self.assertNotIn("io_bytes_per_event", out)


if __name__ == "__main__":
    harness.main()
