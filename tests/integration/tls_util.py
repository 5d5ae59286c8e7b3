"""Certificates and a TLS wire-protocol client for the trust tests (test_tls.py, test_ingest_trust.py).

What it is for: a small PKI made with the `openssl` CLI in a test's temp dir -- a CA, a second unrelated CA,
server certificates for 127.0.0.1/localhost, client certificates (allowed, not allowed, signed by the other CA,
expired) -- and a synchronous TLS client (Python's ssl module) that speaks the collector's NDJSON protocol.

The expired certificate is issued by `openssl ca` with explicit -startdate/-enddate in the past (OpenSSL 3.0's
`x509` has no -not_before), from a throw-away CA database in the same directory.
"""

import json
import os
import socket
import ssl
import subprocess
import time


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr))


class Pki:
    """A CA in directory `d`; issue() makes a key and a certificate signed by it."""

    def __init__(self, d, name="ca"):
        self.d = d
        self.name = name
        os.makedirs(d, exist_ok=True)
        self.cert = os.path.join(d, name + ".pem")
        self.key = os.path.join(d, name + ".key")
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", self.key, "-out", self.cert, "-days", "30", "-subj", "/CN=%s test CA" % name], d)

    def issue(self, cn, san=None, days=30, expired=False, out=None):
        """Returns (cert_path, key_path) of a new certificate for CN=cn (SAN a list like ['DNS:x'])."""
        base = os.path.join(self.d, out or cn)
        key, csr, cert = base + ".key", base + ".csr", base + ".pem"
        _run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
              "-out", csr, "-subj", "/CN=%s" % cn], self.d)
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write("subjectAltName=%s\n" % ",".join(san))
        if not expired:
            _run(["x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                  "-days", str(days), "-sha256", "-extfile", ext, "-out", cert], self.d)
            return cert, key
        db = os.path.join(self.d, "cadb-" + (out or cn))
        os.makedirs(os.path.join(db, "new"), exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("%x\n" % (int(time.time() * 1000) & 0xffffffff | 0x10000000))
        conf = os.path.join(db, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nnew_certs_dir=%s/new\nserial=%s/serial\n"
                    "default_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\n"
                    "[p]\ncommonName=supplied\n" % (db, db, db))
        _run(["ca", "-batch", "-config", conf, "-cert", self.cert, "-keyfile", self.key, "-in", csr, "-out", cert,
              "-notext", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extfile", ext], self.d)
        return cert, key


def server_context_files(pki, name="collector"):
    return pki.issue(name, san=["IP:127.0.0.1", "DNS:localhost"], out="server-" + name)


def client_context(ca_cert, cert=None, key=None, max_version=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca_cert)
    ctx.check_hostname = True
    if cert:
        ctx.load_cert_chain(cert, key)
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class TlsClient:
    """One TLS connection speaking NDJSON; synchronous (one thread uses it at a time)."""

    def __init__(self, port, ctx, timeout=10):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        except Exception:
            raw.close()
            raise
        self.buf = b""
        self.acks = []
        self.errors = []
        self.sent = 0

    def send_lines(self, lines):
        self.sock.sendall(b"".join(l + b"\n" for l in lines))
        self.sent += len(lines)

    def _read_some(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the collector")
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            obj = json.loads(line)
            if "ack" in obj:
                self.acks.append(obj["ack"])
            elif "error" in obj:
                self.errors.append((obj["error"]["line"], obj["error"]["reason"]))

    def wait_ack(self, n, timeout):
        deadline = time.monotonic() + timeout
        while not (self.acks and self.acks[-1] >= n):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("wanted ack >= %d, got %s (errors %s)" % (n, self.acks[-3:], self.errors[-3:]))
            self.sock.settimeout(left)
            self._read_some()
        return self.acks[-1]

    def wait_errors(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.errors) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("wanted %d errors, got %s" % (n, self.errors))
            self.sock.settimeout(left)
            self._read_some()
        return self.errors

    def peer_cn(self):
        cert = self.sock.getpeercert()
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
