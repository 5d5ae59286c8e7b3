"""tls:// listeners end to end: handshakes that must succeed or be refused (with the reason logged), the client
identity recorded in the stored event, event types bound per client certificate (allow_types_by_identity) and
its config errors, both lists changed by SIGHUP (open connections re-checked), TLS 1.2 with a configured cipher, a certificate reload (SIGHUP) while connections keep
sending, and the close_notify a normal close ends with (after the final ack: the client's end of input, the idle
timeout, shutdown), checked by clients that treat a stream cut without it as an error.

Certificates come from tls_util.Pki (the openssl CLI); the client is Python's ssl module.
"""

import json
import os
import re
import signal
import ssl
import threading
import time

import harness
import tls_util
from harness import make_event, scaled


class TlsTest(harness.CollectorTestCase):

    def setUp(self):
        super().setUp()
        self.pki = tls_util.Pki(os.path.join(self.tmp, "pki"))
        self.other = tls_util.Pki(os.path.join(self.tmp, "pki-other"), name="other")
        self.server_cert, self.server_key = tls_util.server_context_files(self.pki)

    def start_tls(self, **listener):
        lst = {"url": "tls://127.0.0.1:0", "cert_file": self.server_cert, "key_file": self.server_key}
        lst.update(listener)
        col = self.collector(config={"listen": [lst]}, listen=[])
        port = int(col.url("tls").rsplit(":", 1)[1])
        return col, port

    def ctx(self, cert=None, key=None, **kw):
        return tls_util.client_context(self.pki.cert, cert, key, **kw)

    def send_ok(self, port, ctx, n, prefix, **extra):
        c = tls_util.TlsClient(port, ctx, timeout=scaled(10))
        try:
            c.send_lines([make_event(i, prefix, **extra) for i in range(n)])
            c.wait_ack(n, scaled(10))
            return c.sock.version(), c.sock.cipher()
        finally:
            c.close()

    def assert_refused(self, col, port, ctx, reason_re):
        """The handshake fails (at once, or -- TLS 1.3 client auth -- on the first read), nothing is stored, and
        the log says why."""
        before = harness.spool_count(col.spool)
        try:
            c = tls_util.TlsClient(port, ctx, timeout=scaled(10))
        except (ssl.SSLError, ConnectionError):
            pass
        else:
            try:
                with self.assertRaises((ssl.SSLError, EOFError, ConnectionError)):
                    c.send_lines([make_event(0, "refused")])
                    c.wait_ack(1, scaled(10))
            finally:
                c.close()
        col.wait_log(r"WARN listener tls://\S+: refusing \S+: TLS handshake failed: .*" + reason_re, scaled(10))
        time.sleep(0.2)
        self.assertEqual(harness.spool_count(col.spool), before, "a refused client got an event stored")

    def test_tls_plain_server_auth(self):
        col, port = self.start_tls()
        version, _ = self.send_ok(port, self.ctx(), 50, "tls")
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(harness.spool_count(col.spool), 50)
        lines = harness.wait_sink_lines(col.sink_path, 50, scaled(10))
        peer = json.loads(lines[0])["unmapped"]["collector"]
        self.assertTrue(peer["listener"].startswith("tls://127.0.0.1:"))
        self.assertNotIn("tls_cn", peer)

    def test_mtls_allowed_and_refused(self):
        col, port = self.start_tls(client_ca=self.pki.cert, allow_identities=["broker", "policy.internal"])
        broker = self.pki.issue("broker")
        by_san = self.pki.issue("agent-7", san=["DNS:policy.internal"])
        intruder = self.pki.issue("intruder", san=["DNS:intruder.internal"])
        foreign = self.other.issue("broker", out="foreign-broker")
        expired = self.pki.issue("broker", expired=True, out="expired-broker")

        self.send_ok(port, self.ctx(*broker), 20, "broker")
        self.send_ok(port, self.ctx(*by_san), 5, "bysan")
        self.assertEqual(harness.spool_count(col.spool), 25)

        self.assert_refused(col, port, self.ctx(*intruder),
                            r"CN=intruder.*not in allow_identities.*DNS:intruder\.internal")
        self.assert_refused(col, port, self.ctx(*foreign), r"failed verification: unable to get local issuer")
        self.assert_refused(col, port, self.ctx(*expired), r"failed verification: certificate has expired")
        self.assert_refused(col, port, self.ctx(), r"did not return a certificate")
        # refusals do not disturb the listener: an allowed client still gets in
        self.send_ok(port, self.ctx(*broker), 3, "after")
        self.assertEqual(harness.spool_count(col.spool), 28)

        lines = harness.wait_sink_lines(col.sink_path, 28, scaled(10))
        first = json.loads(lines[0])["unmapped"]["collector"]
        self.assertEqual(first["tls_cn"], "broker")
        self.assertIn("CN=broker", first["tls_subject"])
        self.assertRegex(first["addr"], r"^127\.0\.0\.1:\d+$")
        self.assertEqual(json.loads(lines[20])["unmapped"]["collector"]["tls_cn"], "agent-7")

    def test_identity_overrides_emitter_claim(self):
        col, port = self.start_tls(client_ca=self.pki.cert, allow_identities=["broker"])
        broker = self.pki.issue("broker")
        c = tls_util.TlsClient(port, self.ctx(*broker), timeout=scaled(10))
        forged = {"class_uid": 4001, "category_uid": 4, "activity_id": 6, "type_uid": 400106, "severity_id": 1,
                  "time": 1795896000123, "metadata": {"version": "1.8.0", "product": {"name": "x", "vendor_name": "x"}},
                  "src_endpoint": {"ip": "10.128.4.7"}, "dst_endpoint": {"ip": "140.82.112.6", "port": 443},
                  "unmapped": {"collector": {"tls_cn": "admin", "uid": 0}}}
        c.send_lines([json.dumps(forged).encode(), make_event(1, "claim", unmapped={"collector": "root"})])
        c.wait_ack(2, scaled(10))
        c.close()
        lines = harness.wait_sink_lines(col.sink_path, 2, scaled(10))
        ev = json.loads(lines[0])
        self.assertEqual(ev["unmapped"]["collector"]["tls_cn"], "broker")
        self.assertNotIn("uid", ev["unmapped"]["collector"])
        self.assertEqual(ev["unmapped"]["collector_claimed"], {"tls_cn": "admin", "uid": 0})
        self.assertEqual(json.loads(lines[1])["unmapped"]["collector"]["tls_cn"], "broker")

    def send_expect(self, port, ctx, lines, n_errors):
        """Sends lines on a new connection; returns the error notices once every line is acked."""
        c = tls_util.TlsClient(port, ctx, timeout=scaled(10))
        try:
            c.send_lines(lines)
            errs = c.wait_errors(n_errors, scaled(10)) if n_errors else []
            c.wait_ack(len(lines), scaled(10))
            self.assertEqual(len(c.errors), n_errors, c.errors)
            return errs
        finally:
            c.close()

    def test_types_by_identity(self):
        col, port = self.start_tls(
            client_ca=self.pki.cert, allow_identities=["broker", "policy-agent", "auditor"],
            allow_types=["broker.*", "policy.*", "workspace.*"],
            allow_types_by_identity={"broker": ["broker.*"],
                                     "policy-agent": ["policy.*", "workspace.update", "tool.*"]})
        broker = self.ctx(*self.pki.issue("broker"))
        agent = self.ctx(*self.pki.issue("policy-agent"))
        auditor = self.ctx(*self.pki.issue("auditor"))  # admitted, matches no key
        relay = self.ctx(*self.pki.issue("relay", san=["DNS:broker", "DNS:policy-agent"]))  # both, by SAN

        def ev(prefix, i, kind):
            extra = {"open": dict(type="broker.session.open", session="s-1", src_ip="10.1.2.3"),
                     "apply": dict(type="policy.apply", policy="p"),
                     "update": dict(type="workspace.update", profile="strict"),
                     "start": {},  # workspace.start
                     "tool": dict(type="tool.exec", cmd_line="ls", process="ls", pid=7)}[kind]
            return make_event(i, prefix, **extra)

        def refused(line, typ, cn):
            return (line, "type %s not allowed from CN=%s" % (typ, cn))

        # the broker's certificate: broker.* only, although the listener takes policy.* and workspace.*
        errs = self.send_expect(port, broker, [ev("broker", 0, "open"), ev("broker", 1, "apply"),
                                               ev("broker", 2, "update"), ev("broker", 3, "tool")], 3)
        self.assertEqual(errs, [refused(2, "policy.apply", "broker"), refused(3, "workspace.update", "broker"),
                                refused(4, "tool.exec", "broker")])
        col.wait_log(r"WARN listener tls://\S+: type policy\.apply not allowed from CN=broker \(dead letter; 1 "
                     r"refused by a type allowlist so far\)", scaled(5))
        # the policy agent: the reverse; its key AND allow_types (workspace.start is outside its key, tool.exec
        # outside allow_types)
        errs = self.send_expect(port, agent, [ev("agent", 0, "apply"), ev("agent", 1, "open"),
                                              ev("agent", 2, "update"), ev("agent", 3, "start"),
                                              ev("agent", 4, "tool")], 3)
        self.assertEqual(errs, [refused(2, "broker.session.open", "policy-agent"),
                                refused(4, "workspace.start", "policy-agent"),
                                refused(5, "tool.exec", "policy-agent")])
        # a certificate matching no key: allow_types alone
        errs = self.send_expect(port, auditor, [ev("auditor", 0, "start"), ev("auditor", 1, "open"),
                                                ev("auditor", 2, "apply"), ev("auditor", 3, "tool")], 1)
        self.assertEqual(errs, [refused(4, "tool.exec", "auditor")])
        # one matching two keys (by SAN names): their union
        errs = self.send_expect(port, relay, [ev("relay", 0, "open"), ev("relay", 1, "apply"),
                                              ev("relay", 2, "start")], 1)
        self.assertEqual(errs, [refused(3, "workspace.start", "relay")])

        # SIGHUP with the settings unchanged (the files are re-read): a new connection is bound as before
        col.send_signal(signal.SIGHUP)
        col.wait_log(r"SIGHUP: TLS certificates reloaded on 1 listener", scaled(10))
        errs = self.send_expect(port, broker, [ev("broker-2", 0, "apply"), ev("broker-2", 1, "open")], 1)
        self.assertEqual(errs, [refused(1, "policy.apply", "broker")])

        stored = {"broker-000000": ("broker", 3002), "agent-000000": ("policy-agent", 3004),
                  "agent-000002": ("policy-agent", 3004), "auditor-000000": ("auditor", None),
                  "auditor-000001": ("auditor", 3002), "auditor-000002": ("auditor", 3004),
                  "relay-000000": ("relay", 3002), "relay-000001": ("relay", 3004),
                  "broker-2-000001": ("broker", 3002)}
        self.assertEqual(harness.spool_count(col.spool), len(stored))
        lines = harness.wait_sink_lines(col.sink_path, len(stored), scaled(10))
        got = {}
        for line in lines:
            e = json.loads(line)
            self.assertIn("class_uid", e)  # normalized OCSF
            got[harness.event_key(line)] = (e["unmapped"]["collector"]["tls_cn"], e["class_uid"])
        self.assertEqual({k: v[0] for k, v in got.items()}, {k: v[0] for k, v in stored.items()})
        for k, (_, cls) in stored.items():
            if cls is not None:
                self.assertEqual(got[k][1], cls, k)
        dl = harness.spool_dead_letters(col.spool)
        self.assertEqual(len(dl), 9)
        self.assertTrue(all(re.match(r"^type \S+ not allowed from CN=", d["reason"]) for d in dl), dl)

    def test_sighup_reloads_identities(self):
        """SIGHUP applies new allow_identities and allow_types_by_identity: an open connection whose certificate
        the new allow_identities leaves out is closed (and a new one is refused at the handshake), another open
        connection is bound by its new key from its next line on; a change of client_ca is refused (a restart
        changes it) and the lists in force stay."""
        listener = {"url": "tls://127.0.0.1:0", "cert_file": self.server_cert, "key_file": self.server_key,
                    "client_ca": self.pki.cert, "allow_identities": ["broker", "policy-agent"],
                    "allow_types_by_identity": {"broker": ["broker.*"]}}
        col = self.collector(config={"listen": [listener]}, listen=[])
        port = int(col.url("tls").rsplit(":", 1)[1])
        cfg_path = os.path.join(self.tmp, "collector.json")
        broker_ctx = self.ctx(*self.pki.issue("broker"))
        agent_ctx = self.ctx(*self.pki.issue("policy-agent"))
        apply = make_event(9, "b", type="policy.apply", policy="p")

        def rewrite(**changes):
            with open(cfg_path, "w") as f:
                json.dump({"listen": [dict(listener, **changes)]}, f)
            col.send_signal(signal.SIGHUP)

        broker = tls_util.TlsClient(port, broker_ctx, timeout=scaled(10))
        agent = tls_util.TlsClient(port, agent_ctx, timeout=scaled(10))
        try:
            broker.send_lines([make_event(0, "b", type="broker.session.open", session="s-1", src_ip="10.1.2.3"),
                               apply])
            self.assertEqual(broker.wait_errors(1, scaled(10)), [(2, "type policy.apply not allowed from CN=broker")])
            broker.wait_ack(2, scaled(10))
            agent.send_lines([make_event(0, "a", type="policy.apply", policy="p")])
            agent.wait_ack(1, scaled(10))

            rewrite(allow_identities=["broker"], allow_types_by_identity={"broker": ["broker.*", "policy.*"]})
            col.wait_log(r"INFO listener tls://127\.0\.0\.1:0: allow_identities \[broker\], allow_types_by_identity "
                         r"with 1 key \(SIGHUP\)", scaled(10))
            col.wait_log(r"WARN listener tls://\S+: closing 127\.0\.0\.1:\d+: client certificate \S*CN=policy-agent "
                         r"is not in allow_identities any more \(its names: CN=policy-agent\) \(allow lists "
                         r"reloaded\)", scaled(10))
            col.wait_log(r"INFO SIGHUP: allow lists reloaded on 1 listener", scaled(10))
            self.assertEqual(agent.read_to_close(scaled(10)), [1], "the agent's connection is closed after its ack")
            # the broker's open connection: policy.* from its next line on
            broker.send_lines([make_event(1, "b", type="policy.apply", policy="p")])
            broker.wait_ack(3, scaled(10))
            self.assertEqual(len(broker.errors), 1)
            self.assert_refused(col, port, agent_ctx, r"CN=policy-agent.*not in allow_identities")

            # client_ca goes with its lists: a change of it is refused, the lists in force stay
            rewrite(client_ca=self.other.cert, allow_identities=["broker", "policy-agent"],
                    allow_types_by_identity={"broker": ["broker.*"]})
            col.wait_log(r"WARN SIGHUP: listener tls://127\.0\.0\.1:0: client_ca changes at a restart, not on "
                         r"SIGHUP", scaled(10))
            broker.send_lines([make_event(2, "b", type="policy.apply", policy="p")])
            broker.wait_ack(4, scaled(10))
            self.assertEqual(len(broker.errors), 1, "the reload was refused: policy.* still allowed")
            self.assert_refused(col, port, agent_ctx, r"CN=policy-agent.*not in allow_identities")
        finally:
            broker.close()
            agent.close()
        keys = sorted(harness.event_key(b) for b in harness.spool_bodies(col.spool))
        self.assertEqual(keys, ["a-000000", "b-000000", "b-000001", "b-000002"])

    def test_types_by_identity_without_allow_identities(self):
        """Any certificate from client_ca is admitted; a matching one is bound by its key, another one by allow_types
        (unset here: anything, which the collector warns about at start)."""
        col, port = self.start_tls(client_ca=self.pki.cert, allow_types_by_identity={"broker": "broker.*"})
        col.wait_log(r"WARN listener tls://127\.0\.0\.1:0: allow_types_by_identity without allow_identities or "
                     r"allow_types", scaled(5))
        apply = make_event(0, "p", type="policy.apply", policy="p")
        errs = self.send_expect(port, self.ctx(*self.pki.issue("broker")), [apply], 1)
        self.assertEqual(errs, [(1, "type policy.apply not allowed from CN=broker")])
        self.send_expect(port, self.ctx(*self.pki.issue("someone")), [apply], 0)
        self.assertEqual(harness.spool_count(col.spool), 1)

    def test_types_by_identity_config_errors(self):
        ca = self.pki.cert
        base = {"url": "tls://127.0.0.1:0", "cert_file": self.server_cert, "key_file": self.server_key}
        cases = [
            ({"allow_types_by_identity": {"broker": ["broker.*"]}},
             r'listener tls://127\.0\.0\.1:0: "allow_types_by_identity" needs "client_ca"'),
            ({"client_ca": ca, "allow_identities": ["broker"],
              "allow_types_by_identity": {"broker": ["broker.*"], "policy-agent": ["policy.*"]}},
             r'allow_types_by_identity key "policy-agent" is not in allow_identities'),
            ({"client_ca": ca, "allow_types_by_identity": {"broker": 7}},
             r'key "listen"\[0\]\.allow_types_by_identity\."broker": expected an array of strings'),
            ({"client_ca": ca, "allow_types_by_identity": ["broker.*"]},
             r"allow_types_by_identity: expected an object"),
            ({"client_ca": ca, "allow_types_by_identity": {"broker": []}},
             r'allow_types_by_identity\."broker": expected at least one type pattern'),
        ]
        for extra, want in cases:
            lst = dict(base, **extra)
            col = self.collector(start=False, listen=[], config={"listen": [lst]})
            col.start(wait_ready=False)
            self.assertEqual(col.wait(scaled(10)), 2, (extra, col.log()))
            self.assertRegex(col.log(), want)
        # a tcp:// listener does not take it
        cfg = os.path.join(self.tmp, "tcp.json")
        with open(cfg, "w") as f:
            json.dump({"listen": [{"url": "tcp://127.0.0.1:0", "allow_types_by_identity": {"a": ["a.*"]}}]}, f)
        r = harness.run_collector(["--config", cfg, "--check-config"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("allow_types_by_identity: only tls:// listeners take this key", r.stderr)

    def test_tls12_with_configured_cipher(self):
        cipher = "ECDHE-ECDSA-AES256-GCM-SHA384"
        col, port = self.start_tls(ciphers=cipher)
        version, (name, _, _) = self.send_ok(port, self.ctx(max_version=ssl.TLSVersion.TLSv1_2), 10, "t12")
        self.assertEqual(version, "TLSv1.2")
        self.assertEqual(name, cipher)
        # a client that offers only other TLS 1.2 ciphers is refused
        self.assert_refused(col, port, self.ctx(max_version=ssl.TLSVersion.TLSv1_2,
                                                ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"), r"no shared cipher")

    def test_bad_cert_file_refuses_start(self):
        bad = os.path.join(self.tmp, "missing.pem")
        col = self.collector(start=False, listen=[], config={
            "listen": [{"url": "tls://127.0.0.1:0", "cert_file": bad, "key_file": self.server_key}]})
        col.start(wait_ready=False)
        self.assertNotEqual(col.wait(scaled(10)), 0)
        self.assertRegex(col.log(), r"cert_file .*missing\.pem")
        r = harness.run_collector(["--listen", "tls://127.0.0.1:0", "--check-config"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("needs \"cert_file\" and \"key_file\"", r.stderr)

    def test_reload_under_load(self):
        col, port = self.start_tls()
        old = tls_util.TlsClient(port, self.ctx(), timeout=scaled(10))
        self.assertEqual(old.peer_cn(), "collector")
        stop = threading.Event()
        errors = []

        def pump():
            i = 0
            try:
                while not stop.is_set():
                    old.send_lines([make_event(i + k, "load") for k in range(50)])
                    i += 50
                    old.wait_ack(i, scaled(10))
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
        t = threading.Thread(target=pump)
        t.start()
        time.sleep(0.3)
        # new certificate in place of the old files, then SIGHUP
        cert2, key2 = tls_util.server_context_files(self.pki, name="collector-2")
        os.replace(cert2, self.server_cert)
        os.replace(key2, self.server_key)
        col.send_signal(signal.SIGHUP)
        col.wait_log(r"SIGHUP: TLS certificates reloaded on 1 listener", scaled(10))
        c2 = tls_util.TlsClient(port, self.ctx(), timeout=scaled(10))
        self.assertEqual(c2.peer_cn(), "collector-2", "a new connection must get the new certificate")
        c2.send_lines([make_event(0, "new")])
        c2.wait_ack(1, scaled(10))
        c2.close()
        # a broken key on the next reload keeps the current certificate serving
        with open(self.server_key, "w") as f:
            f.write("not a key\n")
        col.send_signal(signal.SIGHUP)
        col.wait_log(r"ERROR SIGHUP: TLS files refused, the previous certificates keep serving: .*key_file", scaled(10))
        c3 = tls_util.TlsClient(port, self.ctx(), timeout=scaled(10))
        self.assertEqual(c3.peer_cn(), "collector-2")
        c3.close()
        time.sleep(0.3)
        stop.set()
        t.join(scaled(20))
        self.assertEqual(errors, [], "the connection opened before the reload failed")
        self.assertGreater(old.sent, 100)
        self.assertEqual(old.acks[-1], old.sent)
        self.assertEqual(old.peer_cn(), "collector")
        old.close()
        self.assertEqual(harness.spool_count(col.spool), old.sent + 1)

    def test_close_notify_after_final_ack(self):
        """The client ends its input (TCP half-close, or its own close_notify) and keeps reading: the final ack
        comes, then the collector's close_notify (no SSLEOFError), on TLS 1.3 and 1.2."""
        col, port = self.start_tls()
        n, total = 40, 0
        for max_version in (None, ssl.TLSVersion.TLSv1_2):
            for how in ("half_close", "close_notify"):
                c = tls_util.BioTlsClient(port, self.ctx(max_version=max_version), timeout=scaled(10))
                try:
                    c.send_lines([make_event(i, "cn-%s-%s" % (how, max_version)) for i in range(n)])
                    if how == "half_close":
                        c.half_close()
                    else:
                        c.send_close_notify()
                    acks = c.read_to_close()
                    self.assertTrue(acks, (how, max_version))
                    self.assertEqual(acks[-1], n, (how, max_version))
                    if how == "close_notify":
                        c.unwrap()  # both alerts seen: the shutdown completes
                finally:
                    c.close()
                total += n
        self.assertEqual(harness.spool_count(col.spool), total)

    def test_close_notify_on_idle_timeout(self):
        col, port = self.start_tls(idle_timeout_ms=500)
        c = tls_util.TlsClient(port, self.ctx(), timeout=scaled(10), strict=True)
        try:
            c.send_lines([make_event(i, "idle") for i in range(25)])
            t0 = time.monotonic()
            acks = c.read_to_close(scaled(5))  # reads the acks and waits for the idle timeout's close
            self.assertGreaterEqual(time.monotonic() - t0, 0.4, "closed before the 500 ms idle timeout")
            self.assertEqual(acks[-1], 25)
            c.sock.unwrap()
        finally:
            c.close()
        self.assertEqual(harness.spool_count(col.spool), 25)
        self.assertTrue(col.running())

    def test_close_notify_at_shutdown(self):
        col, port = self.start_tls()
        c = tls_util.TlsClient(port, self.ctx(), timeout=scaled(10), strict=True)
        try:
            c.send_lines([make_event(i, "term") for i in range(30)])
            c.wait_ack(30, scaled(10))
            col.send_signal(signal.SIGTERM)
            acks = c.read_to_close(scaled(10))
            self.assertEqual(acks[-1], 30)
            c.sock.unwrap()
        finally:
            c.close()
        self.assertEqual(col.wait(scaled(15)), 0)
        self.assertEqual(harness.spool_count(col.spool), 30)


if __name__ == "__main__":
    harness.main()
