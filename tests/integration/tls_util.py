"""Certificates and a TLS wire-protocol client for the trust tests (test_tls.py, test_ingest_trust.py).

What it is for: a small PKI made with the `openssl` CLI in a test's temp dir -- a CA, a second unrelated CA,
server certificates for 127.0.0.1/localhost, client certificates (allowed, not allowed, signed by the other CA,
expired) -- and synchronous TLS clients (Python's ssl module) that speak the collector's NDJSON protocol: TlsClient
on an SSLSocket, BioTlsClient on memory BIOs over a plain socket (it can half-close TCP or send its close_notify and
keep reading, and it reports a stream that ends without the server's close_notify as ssl.SSLEOFError).

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

    def __init__(self, port, ctx, timeout=10, strict=False):
        """strict: suppress_ragged_eofs=False, so a stream cut without close_notify raises ssl.SSLEOFError."""
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=not strict)
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

    def read_to_close(self, timeout):
        """Reads until the collector ends the stream; returns the acks. With strict, an end without the
        collector's close_notify raises ssl.SSLEOFError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the collector did not end the connection (acks %s)" % self.acks[-3:])
            self.sock.settimeout(left)
            try:
                self._read_some()
            except EOFError:
                return self.acks

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


class BioTlsClient:
    """One TLS connection over ssl.MemoryBIO on a plain socket; synchronous. read_to_close() reads until the
    server's close_notify (returns the acks) and raises ssl.SSLEOFError when the TCP stream ends without one."""

    def __init__(self, port, ctx, timeout=10):
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        try:
            self._pump(self.obj.do_handshake)
        except Exception:
            self.raw.close()
            raise
        self.buf = b""
        self.acks = []

    def _flush(self):
        data = self.out.read()
        if data:
            self.raw.sendall(data)

    def _pump(self, op, *args):
        while True:
            try:
                r = op(*args)
                self._flush()
                return r
            except ssl.SSLWantReadError:
                self._flush()
                data = self.raw.recv(65536)
                if data:
                    self.inc.write(data)
                else:
                    self.inc.write_eof()  # the next op raises SSLEOFError unless close_notify came first

    def send_lines(self, lines):
        self._pump(self.obj.write, b"".join(l + b"\n" for l in lines))

    def half_close(self):
        """TCP FIN without a close_notify (the collector takes it as the end of input)."""
        self.raw.shutdown(socket.SHUT_WR)

    def send_close_notify(self):
        """SSL_shutdown once: our close_notify goes out and reading goes on (unwrap() would discard data)."""
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def read_to_close(self):
        while True:
            try:
                data = self._pump(self.obj.read, 65536)
            except ssl.SSLZeroReturnError:  # the server's close_notify, after ours
                break
            if not data:  # the server's close_notify
                break
            self.buf += data
        for line in self.buf.split(b"\n"):
            if line:
                obj = json.loads(line)
                if "ack" in obj:
                    self.acks.append(obj["ack"])
        return self.acks

    def unwrap(self):
        """Completes the shutdown after read_to_close() (both close_notify alerts seen)."""
        return self._pump(self.obj.unwrap)

    def close(self):
        try:
            self.raw.close()
        except OSError:
            pass
