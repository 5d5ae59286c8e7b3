"""Integration tests of the syslog sink (sinks/sink_syslog.c) against a real rsyslogd (syslog_rsyslog.py).

Each test starts rsyslogd in the foreground on a loopback port (plain imtcp, or TLS through the ossl driver with
client certificates required), starts the collector with a syslog+tcp:// or syslog+tls:// sink, emits events, and
compares rsyslog's parse of every message (PRI, timestamp, hostname, app-name, procid, msgid, structured data, msg)
with the spool's rows. Also: rsyslog restarted in the middle of a stream (nothing lost; duplicates only as resends),
a receiver with an untrusted certificate (nothing delivered, ingest and the file sink unaffected), and events stored
as received (no class: msgid "unknown", PRI informational).
"""

import json
import os
import re
import threading
import time
import unittest

import harness
from harness import make_event, scaled
from syslog_rsyslog import Rsyslog, make_certs, RSYSLOGD

HOSTNAME = "collector-1.test"
FACILITY = 16  # local0
SEVERITY = {0: 6, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1, 99: 6}


def sd_escape(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def rfc3339_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def spool_rows(path):
    rows = harness.spool_query(path, "SELECT seq, body, received_ms, event_ms, class_uid, user, workspace "
                                     "FROM events ORDER BY seq")
    return [dict(zip(("seq", "body", "received_ms", "event_ms", "class_uid", "user", "workspace"), r))
            for r in rows]


def cursor(path):
    rows = harness.spool_query(path, "SELECT seq FROM sink_cursors WHERE sink LIKE 'syslog%'")
    return rows[0][0] if rows else 0


def mixed_events(n, prefix):
    """Events of several classes and severities, users that need SD escaping."""
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(make_event(i, prefix))                                   # Entity Management, info
        elif kind == 1:
            out.append(make_event(i, prefix, type="workspace.kill", severity="high"))
        elif kind == 2:
            out.append(make_event(i, prefix, type="broker.session.deny", outcome="denied"))  # medium
        elif kind == 3:
            out.append(make_event(i, prefix, type="broker.session.open", severity="critical",
                                  user='we"ird]\\user%d' % i, src_ip="10.1.2.3"))
        else:
            out.append(make_event(i, prefix, severity="low", workspace="ws ]\"%d" % i))
    return out


@unittest.skipUnless(os.path.exists(RSYSLOGD), "rsyslogd not installed (deploy/install-deps.sh --test)")
class SyslogTest(harness.CollectorTestCase):

    def setUp(self):
        super().setUp()
        self.rsyslogs = []

    def tearDown(self):
        for r in self.rsyslogs:
            r.stop()
        super().tearDown()

    def rsyslog(self, **kw):
        r = Rsyslog(self.tmp, **kw)
        self.rsyslogs.append(r)
        return r.start()

    def sink_url(self, r, tls=False, extra=""):
        if not tls:
            return "syslog+tcp://127.0.0.1:%d?facility=local0&hostname=%s&hold_ms=200%s" % (r.port, HOSTNAME, extra)
        d = r.tls_dir
        return ("syslog+tls://127.0.0.1:%d?facility=local0&hostname=%s&hold_ms=200&ca_file=%s/ca.pem"
                "&cert_file=%s/client.pem&key_file=%s/client.key%s" % (r.port, HOSTNAME, d, d, d, extra))

    def emit(self, col, lines):
        r = harness.run_emit(["--to", col.url("tcp"), "--ack", "--quiet"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def wait_delivered(self, col, rs, timeout):
        """Waits until the sink's cursor covers every spooled event and rsyslog wrote each seq; returns the
        spool rows and rsyslog's records."""
        rows = spool_rows(col.spool)
        last = rows[-1]["seq"]
        harness.wait_until(lambda: cursor(col.spool) >= last, timeout, what="syslog cursor at %d" % last)
        want = {r["seq"] for r in rows}
        box = {}

        def all_written():
            box["recs"] = [rec for r in rs for rec in r.records()]
            return want <= {self.record_seq(x) for x in box["recs"]}
        harness.wait_until(all_written, scaled(10), what="rsyslog to write every seq")
        return rows, box["recs"]

    @staticmethod
    def record_seq(rec):
        m = re.match(r'\[ocsf@32473 seq="(\d+)"', rec["sd"])
        return int(m.group(1)) if m else None

    def check_record(self, rec, row, pid):
        """One rsyslog record against its spool row: every RFC 5424 field and the raw message."""
        body = row["body"].decode() if isinstance(row["body"], bytes) else row["body"]
        obj = json.loads(body)
        sev = SEVERITY.get(obj.get("severity_id"), 6)
        cname = obj.get("class_name") or "unknown"
        msgid = cname.replace(" ", "_")
        class_uid = row["class_uid"] if row["class_uid"] is not None and row["class_uid"] >= 0 else -1
        sd = '[ocsf@32473 seq="%d" class_uid="%d"' % (row["seq"], class_uid)
        if row["user"] is not None:
            sd += ' user="%s"' % sd_escape(row["user"])
        if row["workspace"] is not None:
            sd += ' workspace="%s"' % sd_escape(row["workspace"])
        sd += "]"
        t = row["event_ms"] if row["event_ms"] is not None and row["event_ms"] >= 0 else row["received_ms"]
        ts = rfc3339_ms(t)
        pri = FACILITY * 8 + sev
        self.assertEqual(rec["msg"], body, "MSG is the spooled OCSF JSON byte for byte")
        self.assertEqual(int(rec["pri"]), pri, "PRI for severity_id %s" % obj.get("severity_id"))
        self.assertEqual(rec["msgid"], msgid)
        self.assertEqual(rec["sd"], sd)
        self.assertEqual(rec["hostname"], HOSTNAME)
        self.assertEqual(rec["app"], "ocsf-collector")
        self.assertEqual(rec["procid"], str(pid))
        self.assertEqual(rec["ts"], ts)
        self.assertEqual(rec["raw"], "<%d>1 %s %s ocsf-collector %d %s %s %s" % (pri, ts, HOSTNAME, pid, msgid, sd,
                                                                                 body))

    def check_all(self, rows, recs, pid, exactly_once=True):
        by_seq = {r["seq"]: r for r in rows}
        seqs = [self.record_seq(x) for x in recs]
        self.assertTrue(set(seqs) <= set(by_seq), "rsyslog holds seqs that were never spooled")
        self.assertEqual(set(seqs), set(by_seq), "some spooled events never reached rsyslog")
        if exactly_once:
            self.assertEqual(seqs, [r["seq"] for r in rows], "each event once, in seq order")
        for rec in recs:
            self.check_record(rec, by_seq[self.record_seq(rec)], pid)

    def test_plain_tcp_fields(self):
        rs = self.rsyslog()
        col = self.collector(sinks=[self.sink_url(rs)])
        self.emit(col, mixed_events(400, "plain"))
        rows, recs = self.wait_delivered(col, [rs], scaled(20))
        self.assertEqual(len(rows), 400)
        self.check_all(rows, recs, col.pid)
        self.assertEqual({r["msgid"] for r in recs}, {"Entity_Management", "Authentication"})
        self.assertEqual({int(r["pri"]) - FACILITY * 8 for r in recs}, {6, 5, 4, 3, 2})

    def test_stored_as_received(self):
        rs = self.rsyslog()
        col = self.collector(sinks=[self.sink_url(rs)], args=["--normalize", "off"])
        self.emit(col, [make_event(i, "raw") for i in range(50)] + [b'{"note":"no user"}'])
        rows, recs = self.wait_delivered(col, [rs], scaled(20))
        self.check_all(rows, recs, col.pid)
        self.assertEqual({r["msgid"] for r in recs}, {"unknown"})
        self.assertEqual({int(r["pri"]) for r in recs}, {FACILITY * 8 + 6})

    def test_tls_client_certificate(self):
        certs = make_certs(os.path.join(self.tmp, "certs"))
        rs = self.rsyslog(tls_dir=certs)
        col = self.collector(sinks=[self.sink_url(rs, tls=True)])
        self.emit(col, mixed_events(300, "tls"))
        rows, recs = self.wait_delivered(col, [rs], scaled(20))
        self.assertEqual(len(rows), 300)
        self.check_all(rows, recs, col.pid)

    def test_tls_untrusted_receiver_blocks_nothing_else(self):
        """A receiver whose certificate we do not trust gets nothing; ingest and the file sink carry on."""
        certs = make_certs(os.path.join(self.tmp, "certs"))
        rs = self.rsyslog(tls_dir=certs)
        bad = self.sink_url(rs, tls=True).replace("/ca.pem", "/other-ca.pem")
        col = self.collector(sinks=[bad, "file://" + os.path.join(self.tmp, "events.ndjson")])
        sent = [make_event(i, "untrusted") for i in range(200)]
        self.emit(col, sent)
        lines = harness.wait_sink_lines(col.sink_path, 200, scaled(10))
        self.assertEqual(len(lines), 200)
        col.wait_log(r"WARN sink syslog\+tls://.*certificate verify failed", scaled(10))
        self.assertEqual(cursor(col.spool), 0)
        self.assertEqual(rs.records(), [])

    def test_rsyslog_restart_mid_stream(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                self.restart_mid_stream(tls)

    def restart_mid_stream(self, tls):
        name = "tls" if tls else "plain"
        certs = make_certs(os.path.join(self.tmp, "certs-" + name)) if tls else None
        rs = self.rsyslog(tls_dir=certs, name="rsyslog-" + name)
        col = self.collector(sinks=[self.sink_url(rs, tls=tls)], name="collector-" + name,
                             spool=os.path.join(self.tmp, name + ".db"))
        n, chunk = 3000, 100
        errors = []

        def produce():
            try:
                for k in range(0, n, chunk):
                    self.emit(col, [make_event(i, name, pad=300) for i in range(k, k + chunk)])
                    time.sleep(0.02)
            except AssertionError as e:
                errors.append(e)
        t = threading.Thread(target=produce)
        t.start()
        harness.wait_until(lambda: len(rs.records()) >= 600, scaled(20), what="rsyslog to receive 600 events")
        rs.stop()                      # mid-stream: the sink sees the connection die
        time.sleep(1.0)
        rs2 = self.rsyslog(port=rs.port, tls_dir=certs, name="rsyslog-" + name)  # same port, same output file
        t.join(scaled(60))
        self.assertFalse(errors, errors)
        rows, recs = self.wait_delivered(col, [rs2], scaled(30))
        self.assertEqual(len(rows), n)
        self.check_all(rows, recs, col.pid, exactly_once=False)
        seqs = [self.record_seq(x) for x in recs]
        dup = len(seqs) - len(set(seqs))
        sys_note = "%s: %d records for %d events (%d resent)" % (name, len(seqs), n, dup)
        print(sys_note)
        # every duplicate is a resend of a whole tail: after the first copy of a seq, the stream restarts at or
        # before it, so the first appearances are in seq order
        first = []
        seen = set()
        for s in seqs:
            if s not in seen:
                seen.add(s)
                first.append(s)
        self.assertEqual(first, sorted(first), "first deliveries in seq order")
        self.assertTrue(any("retrying from seq" in l for l in col.run_lines), col.log())
        self.assertEqual(col.stop(), 0)


if __name__ == "__main__":
    harness.main()
