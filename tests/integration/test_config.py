"""Command line and config file: --help/--version, usage errors (exit 2 naming the flag or key), --check-config,
flags overriding the file, per-listener settings, and a spool of an unknown format that must be refused."""

import json
import os
import sqlite3

import harness
from harness import make_event, event_key, run_collector, scaled

FLAGS = ["--config", "--listen", "--spool", "--sink", "--check-config", "--version", "--help",
         "--max-event-bytes", "--max-connections", "--idle-timeout-ms", "--commit-max-events",
         "--commit-interval-ms", "--log-level"]


class ConfigTest(harness.CollectorTestCase):

    def base_flags(self):
        return ["--listen", "tcp://127.0.0.1:0", "--spool", os.path.join(self.tmp, "spool.db"),
                "--sink", "file://" + os.path.join(self.tmp, "events.ndjson")]

    def write_config(self, cfg, name="collector.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        return path

    def good_config(self, **extra):
        cfg = {"listen": ["tcp://127.0.0.1:0"], "spool": os.path.join(self.tmp, "spool.db"),
               "sinks": ["file://" + os.path.join(self.tmp, "events.ndjson")]}
        cfg.update(extra)
        return cfg

    def assert_usage_error(self, args, names):
        r = run_collector(args)
        self.assertEqual(r.returncode, 2, "args %r: exit %d, stderr: %s" % (args, r.returncode, r.stderr))
        self.assertIn(names, r.stderr, "args %r: stderr does not name %r: %s" % (args, names, r.stderr))
        self.assertNotIn("INFO ready", r.stderr)
        return r

    # --- one-shot flags ---------------------------------------------------------------------------------------

    def test_help(self):
        r = run_collector(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        for flag in FLAGS:
            self.assertIn(flag, out, "--help does not mention %s" % flag)

    def test_version(self):
        r = run_collector(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "ocsf-collector 0.1.0")

    # --- usage errors -----------------------------------------------------------------------------------------

    def test_unknown_flag(self):
        self.assert_usage_error(self.base_flags() + ["--frobnicate", "1"], "--frobnicate")

    def test_missing_value(self):
        for flag in ("--spool", "--listen", "--sink", "--max-event-bytes", "--config", "--log-level"):
            with self.subTest(flag=flag):
                args = [a for a in self.base_flags()]
                if flag in args:  # drop the good one so the flag is the last, valueless argument
                    i = args.index(flag)
                    del args[i:i + 2]
                self.assert_usage_error(args + [flag], flag)

    def test_bad_urls(self):
        cases = [("--listen", "ftp://127.0.0.1:7514"), ("--listen", "tcp://127.0.0.1"),
                 ("--listen", "tcp://127.0.0.1:99999"), ("--listen", "tcp://127.0.0.1:port"),
                 ("--listen", "unix://"), ("--sink", "nosuch://somewhere"), ("--sink", "file://"),
                 ("--sink", "not a url")]
        for flag, url in cases:
            with self.subTest(flag=flag, url=url):
                args = self.base_flags()
                i = args.index(flag)
                args[i + 1] = url
                self.assert_usage_error(args, flag)

    def test_bad_values(self):
        cases = [("--max-event-bytes", "abc"), ("--max-event-bytes", "-5"), ("--max-event-bytes", "12kb"),
                 ("--max-event-bytes", "99999999999999999999999"), ("--max-connections", "many"),
                 ("--idle-timeout-ms", "1.5"), ("--commit-max-events", "x"), ("--commit-interval-ms", "-1"),
                 ("--log-level", "loud")]
        for flag, value in cases:
            with self.subTest(flag=flag, value=value):
                self.assert_usage_error(self.base_flags() + [flag, value], flag)

    def test_config_unknown_key(self):
        path = self.write_config(self.good_config(shiny_new_thing=1))
        self.assert_usage_error(["--config", path], "shiny_new_thing")

    def test_config_unknown_key_in_listener(self):
        cfg = self.good_config(listen=[{"url": "tcp://127.0.0.1:0", "max_bananas": 3}])
        self.assert_usage_error(["--config", self.write_config(cfg)], "max_bananas")

    def test_config_wrong_types(self):
        cases = [({"max_event_bytes": "big"}, "max_event_bytes"),
                 ({"max_connections": True}, "max_connections"),
                 ({"idle_timeout_ms": [1]}, "idle_timeout_ms"),
                 ({"commit_max_events": {"n": 1}}, "commit_max_events"),
                 ({"log_level": 3}, "log_level"),
                 ({"spool": 17}, "spool"),
                 ({"sinks": 5}, "sinks"),
                 ({"listen": [{"url": "tcp://127.0.0.1:0", "max_connections": "x"}]}, "max_connections"),
                 ({"listen": [{"max_event_bytes": 10}]}, "url"),
                 ({"listen": ["ftp://127.0.0.1:1"]}, "listen")]
        for extra, name in cases:
            with self.subTest(extra=extra):
                self.assert_usage_error(["--config", self.write_config(self.good_config(**extra))], name)

    def test_config_not_json(self):
        path = self.write_config('{"listen": ["tcp://127.0.0.1:0"], ')
        self.assert_usage_error(["--config", path], "collector.json")

    def test_config_missing_file(self):
        missing = os.path.join(self.tmp, "nope.json")
        self.assert_usage_error(["--config", missing], "nope.json")

    # --- --check-config ---------------------------------------------------------------------------------------

    def test_check_config_good(self):
        sock = os.path.join(self.tmp, "check.sock")
        cfg = self.good_config(listen=["unix://" + sock], max_event_bytes=4096, log_level="info")
        r = run_collector(["--config", self.write_config(cfg), "--check-config"], timeout=scaled(10))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(sock), "--check-config must not listen")
        self.assertNotIn("INFO ready", r.stderr)
        self.assertNotIn("listening on", r.stderr)
        r = run_collector(self.base_flags() + ["--check-config"], timeout=scaled(10))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_check_config_bad(self):
        path = self.write_config(self.good_config(max_event_bytes="lots"))
        r = self.assert_usage_error(["--config", path, "--check-config"], "max_event_bytes")
        self.assertNotIn("listening on", r.stderr)
        self.assert_usage_error(self.base_flags() + ["--check-config", "--log-level", "chatty"], "--log-level")

    # --- config file in use -----------------------------------------------------------------------------------

    def test_config_file_alone_runs(self):
        sink = os.path.join(self.tmp, "events.ndjson")
        cfg = self.good_config(sinks=[{"url": "file://" + sink}], commit_max_events=64, commit_interval_ms=5,
                               idle_timeout_ms=60000, max_connections=16, log_level="debug")
        col = self.collector(defaults=False, args=["--config", self.write_config(cfg)])
        self.assertEqual(len(col.urls), 1)
        sent = [make_event(i, "cfg") for i in range(100)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in sent))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        lines = harness.wait_sink_lines(sink, 100, scaled(10))
        self.assertEqual([event_key(l) for l in lines], [event_key(l) for l in sent])

    def test_flags_override_config(self):
        cfg = self.good_config(max_event_bytes=100000, log_level="info")
        col = self.collector(defaults=False,
                             args=["--config", self.write_config(cfg), "--max-event-bytes", "1000"])
        c = self.client(col.url("tcp"))
        c.send_lines([make_event(1, "ovr", pad=700), make_event(2, "ovr", pad=1500), make_event(3, "ovr")])
        c.half_close()
        c.wait_eof()
        self.assertEqual(c.last_ack, 3)
        self.assertEqual([e[0] for e in c.errors], [2], c.errors)
        self.assertIn("exceeds max_event_bytes", c.errors[0][1])
        keys = [event_key(b) for b in harness.spool_bodies(col.spool)]
        self.assertEqual(keys, ["ovr-000001", "ovr-000003"])

    def test_flag_spool_overrides_config(self):
        other_spool = os.path.join(self.tmp, "other-spool.db")
        col = self.collector(defaults=False, args=["--config", self.write_config(self.good_config()),
                                                   "--spool", other_spool])
        c = self.client(col.url("tcp"))
        c.send_lines([make_event(1, "sp")])
        c.wait_ack(1)
        self.assertEqual(harness.spool_count(other_spool), 1)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "spool.db")))

    def test_per_listener_settings(self):
        small = os.path.join(self.tmp, "small.sock")
        cfg = self.good_config(listen=[{"url": "unix://" + small, "max_event_bytes": 1000, "max_connections": 1},
                                       "tcp://127.0.0.1:0"])
        col = self.collector(defaults=False, args=["--config", self.write_config(cfg)])
        self.assertEqual(sorted(col.urls), sorted(["unix://" + small, col.url("tcp")]))
        big = make_event(1, "pl", pad=1500)
        on_small = self.client("unix://" + small)
        on_small.send_lines([big])
        on_small.wait_ack(1)
        self.assertEqual([e[0] for e in on_small.errors], [1], on_small.errors)
        self.assertIn("exceeds max_event_bytes", on_small.errors[0][1])
        on_tcp = self.client(col.url("tcp"))
        on_tcp.send_lines([big])
        on_tcp.wait_ack(1)
        self.assertEqual(on_tcp.errors, [])
        # max_connections 1 on the unix listener: a second connection there is closed, tcp is unaffected
        second = self.client("unix://" + small)
        second.wait_eof(scaled(2))
        on_small.send_lines([make_event(2, "pl")])
        on_small.wait_ack(2)
        on_tcp.send_lines([make_event(3, "pl")])
        on_tcp.wait_ack(2)
        keys = [event_key(b) for b in harness.spool_bodies(col.spool)]
        self.assertEqual(sorted(keys), ["pl-000001", "pl-000002", "pl-000003"])

    # --- spool format -----------------------------------------------------------------------------------------

    def test_unknown_spool_format_version_refused(self):
        col = self.collector()
        c = self.client(col.url("tcp"))
        c.send_lines([make_event(1, "fv")])
        c.wait_ack(1)
        self.assertEqual(col.stop(), 0)
        rows = harness.spool_query(col.spool, "SELECT value FROM meta WHERE key = 'format_version'")
        self.assertEqual([str(r[0]) for r in rows], ["1"])
        con = sqlite3.connect(col.spool)
        con.execute("UPDATE meta SET value = 99 WHERE key = 'format_version'")
        con.commit()
        con.close()
        col.start(wait_ready=False)
        rc = col.wait(scaled(10))
        self.assertIn(rc, (1, 2), "a spool of format version 99 must be refused: exit %d" % rc)
        self.assertIn("format version", col.log())
        self.assertNotIn("INFO ready", col.log())
        rows = harness.spool_query(col.spool, "SELECT value FROM meta WHERE key = 'format_version'")
        self.assertEqual([str(r[0]) for r in rows], ["99"], "the refused spool was rewritten")
        self.assertEqual(harness.spool_count(col.spool), 1)

    def test_spool_that_is_not_sqlite_refused(self):
        spool = os.path.join(self.tmp, "garbage.db")
        junk = b"this is not a database\n" * 200
        with open(spool, "wb") as f:
            f.write(junk)
        col = self.collector(start=False, spool=spool)
        col.start(wait_ready=False)
        rc = col.wait(scaled(10))
        self.assertIn(rc, (1, 2), "exit %d" % rc)
        self.assertNotIn("INFO ready", col.log())
        self.assertIn("garbage.db", col.log())
        with open(spool, "rb") as f:
            self.assertEqual(f.read(), junk, "the refused spool file was modified")


if __name__ == "__main__":
    harness.main()
