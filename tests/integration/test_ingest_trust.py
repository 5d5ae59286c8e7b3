"""Trust at the ingest without TLS: unix socket permissions and SO_PEERCRED, uid/gid allowlists, source binding
of event types (allow_types), per-peer connection caps, and the start-up refusals (world-writable config file
or spool directory).

Connecting as another user: the tests run as root, so a forked child drops to uid/gid 65534 (nobody) with
os.setgid/os.setuid before it connects, and reports what it saw through a pipe.
"""

import json
import os
import signal
import stat
import socket
import time

import harness
from harness import make_event, scaled

NOBODY = 65534


def connect_as(path, uid, gid, payload, wait_reply):
    """Connects to the unix socket `path` as uid/gid in a child process, sends payload, reads the replies until
    EOF or `wait_reply` bytes contain a newline; returns (ok, replies bytes or error text)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        out = b""
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            s.sendall(payload)
            if wait_reply:
                while b"\n" not in out:
                    d = s.recv(65536)
                    if not d:
                        break
                    out += d
            s.close()
            os.write(w, b"OK " + out)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            os.write(w, ("ERR %r" % e).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        d = os.read(r, 65536)
        if not d:
            break
        data += d
    os.close(r)
    os.waitpid(pid, 0)
    return data.startswith(b"OK "), data[3:] if data.startswith(b"OK ") else data


class IngestTrustTest(harness.CollectorTestCase):

    def test_peercred_recorded_and_socket_mode_owner(self):
        path = os.path.join(self.tmp, "agent.sock")
        os.chmod(self.tmp, 0o755)  # nobody must reach the socket
        col = self.collector(listen=[], config={"listen": [{
            "url": "unix://" + path, "socket_mode": "0660", "socket_owner": "0:%d" % NOBODY}]})
        st = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual((st.st_uid, st.st_gid), (0, NOBODY))
        # as root: pid/uid/gid of this very process
        c = self.client("unix://" + path)
        c.send_lines([make_event(0, "cred")])
        c.wait_ack(1)
        # as uid 65534 (allowed through the group owner of the socket)
        ok, reply = connect_as(path, NOBODY, NOBODY, make_event(1, "cred") + b"\n", True)
        self.assertTrue(ok, reply)
        self.assertIn(b'"ack":1', reply)
        lines = harness.wait_sink_lines(col.sink_path, 2, scaled(10))
        peers = [json.loads(l)["unmapped"]["collector"] for l in lines]
        self.assertEqual((peers[0]["uid"], peers[0]["gid"], peers[0]["pid"]), (0, os.getgid(), os.getpid()))
        self.assertEqual((peers[1]["uid"], peers[1]["gid"]), (NOBODY, NOBODY))
        self.assertNotIn(peers[1]["pid"], (os.getpid(), None))
        self.assertEqual(harness.spool_query(col.spool, "SELECT peer FROM events ORDER BY seq")[1][0],
                         "unix:pid=%d,uid=%d,gid=%d" % (peers[1]["pid"], NOBODY, NOBODY))

    def test_uid_allowlist(self):
        path = os.path.join(self.tmp, "policy.sock")
        os.chmod(self.tmp, 0o755)
        col = self.collector(listen=[], config={"listen": [{
            "url": "unix://" + path, "socket_mode": "0666", "allow_uids": [0]}]})
        ok, reply = connect_as(path, NOBODY, NOBODY, make_event(0, "nobody") + b"\n", True)
        # the kernel accepted the connection; the collector closed it without reading or acking
        self.assertNotIn(b"ack", reply)
        col.wait_log(r"WARN listener unix://\S+: refusing unix:pid=\d+,uid=65534,gid=65534: peer uid 65534 gid "
                     r"65534 is not in allow_uids/allow_gids", scaled(10))
        c = self.client("unix://" + path)
        c.send_lines([make_event(1, "root")])
        c.wait_ack(1)
        self.assertEqual(harness.spool_count(col.spool), 1)
        # a gid allowlist admits the group instead
        col.stop()
        col2 = self.collector(listen=[], name="c2", spool=os.path.join(self.tmp, "s2.db"), config={"listen": [{
            "url": "unix://" + path, "socket_mode": "0666", "allow_uids": [4242], "allow_gids": [NOBODY]}]})
        ok, reply = connect_as(path, NOBODY, NOBODY, make_event(2, "nobody") + b"\n", True)
        self.assertTrue(ok, reply)
        self.assertIn(b'"ack":1', reply)
        self.assertEqual(harness.spool_count(col2.spool), 1)

    def test_allow_types_dead_letters(self):
        path = os.path.join(self.tmp, "tool.sock")
        col = self.collector(listen=[], config={"listen": [
            {"url": "unix://" + path, "allow_types": ["tool.*"]},
            {"url": "tcp://127.0.0.1:0", "allow_types": ["broker.*", "policy.apply"]}]})
        c = self.client("unix://" + path)
        c.send_lines([make_event(0, "t", type="tool.exec", cmd_line="ls", process="ls", pid=7),
                      make_event(1, "t", type="broker.session.open", session="s-1", src_ip="10.1.2.3"),
                      make_event(2, "t", type="toolbox"),
                      b'{"id":"no-type","time":"2026-11-28T20:00:00Z"}'])
        errs = c.wait_errors(3)
        c.wait_ack(4)
        pid = os.getpid()
        ident = "unix:pid=%d,uid=0,gid=%d" % (pid, os.getgid())
        self.assertEqual(errs, [(2, "type broker.session.open not allowed from " + ident),
                                (3, "type toolbox not allowed from " + ident),
                                (4, "type (none) not allowed from " + ident)])
        t = self.client(col.url("tcp"))
        t.send_lines([make_event(3, "b", type="broker.session.open", session="s-1", src_ip="10.1.2.3"),
                      make_event(4, "b", type="policy.apply", policy="p"),
                      make_event(5, "b", type="policy.reject", policy="p")])
        errs = t.wait_errors(1)
        t.wait_ack(3)
        self.assertRegex(errs[0][1], r"^type policy\.reject not allowed from 127\.0\.0\.1:\d+$")
        dl = harness.spool_dead_letters(col.spool)
        self.assertEqual(len(dl), 4)
        self.assertTrue(all("not allowed from" in d["reason"] for d in dl))
        self.assertEqual(harness.spool_count(col.spool), 3)
        col.wait_log(r"WARN listener unix://\S+: type broker.session.open not allowed from unix:pid=%d" % pid,
                     scaled(5))

    def test_sighup_reloads_allow_lists(self):
        """SIGHUP applies a listener's new allow_types to the next line of open connections, and new
        allow_uids close a connection whose peer they refuse; a bad configuration is refused whole and the old
        lists keep serving."""
        path = os.path.join(self.tmp, "agent.sock")
        os.chmod(self.tmp, 0o755)
        listen = {"url": "unix://" + path, "socket_mode": "0666", "allow_types": ["tool.*"]}
        col = self.collector(listen=[], config={"listen": [listen]})
        cfg_path = os.path.join(self.tmp, "collector.json")
        c = self.client("unix://" + path)
        c.send_lines([make_event(0, "a", type="broker.session.open", session="s-1", src_ip="10.1.2.3")])
        self.assertEqual(len(c.wait_errors(1)), 1)
        c.wait_ack(1)

        def rewrite(cfg):
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            col.send_signal(signal.SIGHUP)

        rewrite({"listen": [dict(listen, allow_types=["tool.*", "broker.*"])]})
        col.wait_log(r"INFO SIGHUP: allow lists reloaded on 1 listener", scaled(10))
        c.send_lines([make_event(1, "a", type="broker.session.open", session="s-1", src_ip="10.1.2.3")])
        c.wait_ack(2)
        self.assertEqual(len(c.errors), 1, "the same connection now may send broker.*")
        self.assertEqual(harness.spool_count(col.spool), 1)

        rewrite({"listen": [dict(listen, allow_types=["tool.*", "broker.*"], bogus_key=1)]})
        col.wait_log(r"ERROR SIGHUP: configuration refused, the listeners keep their allow lists: .*bogus_key",
                     scaled(10))
        c.send_lines([make_event(2, "a", type="broker.session.open", session="s-2", src_ip="10.1.2.3")])
        c.wait_ack(3)
        self.assertEqual(harness.spool_count(col.spool), 2)

        # a peer the new lists refuse (root, here) is closed; another peer still gets in
        rewrite({"listen": [dict(listen, allow_uids=[NOBODY])]})
        col.wait_log(r"WARN listener unix://\S+: closing unix:pid=\d+,uid=0,gid=\d+: peer uid 0 gid \d+ is not in "
                     r"allow_uids/allow_gids \(allow lists reloaded\)", scaled(10))
        c.wait_eof(scaled(10))
        ok, reply = connect_as(path, NOBODY, NOBODY, make_event(3, "nobody", type="tool.exec", cmd_line="ls", process="ls", pid=7) + b"\n", True)
        self.assertTrue(ok, reply)
        self.assertIn(b'"ack":1', reply)

    def test_max_connections_per_peer(self):
        col = self.collector(listen=[], config={"listen": [{"url": "tcp://127.0.0.1:0",
                                                             "max_connections_per_peer": 2}]})
        a = self.client(col.url("tcp"))
        b = self.client(col.url("tcp"))
        for x in (a, b):
            x.send_lines([make_event(0, "cap")])
            x.wait_ack(1)
        extra = self.client(col.url("tcp"))
        extra.wait_eof(scaled(10))
        col.wait_log(r"refusing 127\.0\.0\.1:\d+: 127\.0\.0\.1 already has 2 connections "
                     r"\(max_connections_per_peer\)", scaled(5))
        a.half_close()  # the collector drains and closes it: the peer has a free slot again
        a.wait_eof(scaled(10))
        time.sleep(0.1)
        again = self.client(col.url("tcp"))
        again.send_lines([make_event(1, "cap")])
        again.wait_ack(1)
        self.assertEqual(harness.spool_count(col.spool), 3)

    def test_world_writable_refused(self):
        cfg = os.path.join(self.tmp, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"log_level": "info"}, f)
        os.chmod(cfg, 0o666)
        r = harness.run_collector(["--config", cfg, "--check-config"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("config file %s is world-writable" % cfg, r.stderr)
        spool_dir = os.path.join(self.tmp, "shared")
        os.mkdir(spool_dir)
        os.chmod(spool_dir, 0o777)
        col = self.collector(start=False, spool=os.path.join(spool_dir, "spool.db"))
        col.start(wait_ready=False)
        self.assertEqual(col.wait(scaled(10)), 2)
        self.assertIn("spool directory %s is world-writable (mode 0777)" % spool_dir, col.log())
        self.assertFalse(os.path.exists(os.path.join(spool_dir, "spool.db")))
        os.chmod(spool_dir, 0o750)
        col.start()
        col.stop()

    def test_listener_option_errors(self):
        cases = [
            ({"url": "tcp://127.0.0.1:0", "cert_file": "/x"}, "only tls:// listeners take this key"),
            ({"url": "tcp://127.0.0.1:0", "allow_uids": [0]}, "only unix:// listeners take this key"),
            ({"url": "unix:///tmp/x.sock", "socket_mode": "0999"}, "expected octal"),
            ({"url": "tcp://127.0.0.1:0", "allow_types": "a,b"}, "without ','"),
            ({"url": "tcp://127.0.0.1:0", "bogus": 1}, "unknown listener key"),
        ]
        for lst, want in cases:
            cfg = os.path.join(self.tmp, "bad.json")
            with open(cfg, "w") as f:
                json.dump({"listen": [lst]}, f)
            r = harness.run_collector(["--config", cfg, "--check-config"])
            self.assertEqual(r.returncode, 2, (lst, r.stderr))
            self.assertIn(want, r.stderr)


if __name__ == "__main__":
    harness.main()
