"""WAL checkpoints on their own thread (collector/spool_ckpt.h): under a load that writes several times the WAL's
size, the WAL stays bounded (checkpoints run and the writer restarts the WAL), nothing is lost or out of order,
the chain verifies, and no checkpoint failed."""

import os
import subprocess

import harness
from harness import scaled

REPLAY = os.path.join(harness.BUILD_DIR, "tools", "ocsf-replay")


class CheckpointTest(harness.CollectorTestCase):

    def test_wal_bounded_under_load(self):
        harness.require_binary(harness.BENCH)
        col = self.collector()
        n = 60000  # ~90 MB of normalized rows: more than the 64 MiB the WAL is cut back to
        r = subprocess.run([harness.BENCH, "--to", col.url("tcp"), "-n", str(n), "-c", "2", "--window", "1000",
                            "--timeout", str(scaled(60))], capture_output=True, timeout=scaled(180))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
        harness.wait_sink_lines(col.sink_path, n, scaled(60))
        wal = col.spool + "-wal"
        size = os.path.getsize(wal) if os.path.exists(wal) else 0
        # kicked every 16 MiB; the writer restarts the WAL once copied and cuts the file to 64 MiB
        self.assertLessEqual(size, 64 * 1024 * 1024 + 65536, "WAL grew to %d bytes" % size)
        self.assertNotIn("spool checkpoint failed", col.log())
        self.assertEqual(col.stop(), 0)
        self.assertEqual(harness.spool_count(col.spool), n)
        seqs = [row[0] for row in harness.spool_query(col.spool, "SELECT seq FROM events ORDER BY seq")]
        self.assertEqual(seqs, list(range(1, n + 1)))
        v = subprocess.run([REPLAY, "--spool", col.spool, "--verify"], capture_output=True, text=True,
                           timeout=scaled(60))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)


if __name__ == "__main__":
    harness.main()
