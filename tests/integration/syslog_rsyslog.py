"""A real rsyslogd for the syslog sink tests (python3 stdlib; Debian packages rsyslog and rsyslog-openssl).

What it is for: test_syslog*.py start rsyslogd in the foreground (`rsyslogd -n -f CONF -i PIDFILE`) with its own
config, work directory and loopback port, receiving with imtcp (RFC 6587 octet counting; TLS through the ossl
netstream driver) and writing every message it parsed to a file as one JSON object per line: rsyslog's own view of
the RFC 5424 fields (pri, hostname, app-name, procid, msgid, structured-data, timestamp, msg) plus the raw message.
The tests compare those records with what the collector spooled.

Also: make_certs() writes a test CA, a server certificate for 127.0.0.1/localhost and a client certificate with the
openssl command line tool.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"

TEMPLATE = """
template(name="ocsf_test" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="ts" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d):
    """CA (ca.pem), server (server.pem/.key: SAN IP 127.0.0.1, DNS localhost), client (client.pem/.key), and a
    second unrelated CA (other-ca.pem) for the negative test. Returns d."""
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key", "-out", ca + ".pem",
                "-days", "2", "-subj", "/CN=ocsf test %s" % ca, cwd=d)
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=%s" % ("localhost" if name == "server" else "ocsf-collector"), cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "2", "-extfile", ext, cwd=d)
    return d


class Rsyslog:
    """One rsyslogd on 127.0.0.1:port writing what it receives to `out` (JSON lines). tls_dir (from make_certs)
    switches the input to TLS with client certificates required (x509/certvalid)."""

    def __init__(self, workdir, port=None, tls_dir=None, name="rsyslog"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "work"), exist_ok=True)
        self.port = port or free_port()
        self.tls_dir = tls_dir
        self.out = os.path.join(self.dir, "received.jsonl")
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        self.pidfile = os.path.join(self.dir, "rsyslogd.pid")
        self.log_path = os.path.join(self.dir, "rsyslogd.log")
        self.proc = None
        self._write_conf()

    def _write_conf(self):
        g = 'workDirectory="%s" maxMessageSize="1m"' % os.path.join(self.dir, "work")
        mod = 'module(load="imtcp")'
        if self.tls_dir:
            t = self.tls_dir
            g += (' DefaultNetstreamDriver="ossl" DefaultNetstreamDriverCAFile="%s/ca.pem"'
                  ' DefaultNetstreamDriverCertFile="%s/server.pem" DefaultNetstreamDriverKeyFile="%s/server.key"'
                  % (t, t, t))
            mod = ('module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1"'
                   ' StreamDriver.AuthMode="x509/certvalid")')
        with open(self.conf, "w") as f:
            f.write("global(%s)\n%s\n%s\n" % (g, mod, TEMPLATE))
            f.write('main_queue(queue.timeoutShutdown="10000")\n')
            f.write('input(type="imtcp" port="%d" address="127.0.0.1" ruleset="to_file")\n' % self.port)
            f.write('ruleset(name="to_file") { action(type="omfile" file="%s" template="ocsf_test") }\n' % self.out)

    def start(self, timeout=15):
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pidfile],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # listening once a connect succeeds
            if self.proc.poll() is not None:
                raise AssertionError("rsyslogd exited %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("rsyslogd not listening on %d within %d s:\n%s" % (self.port, timeout, self.log()))

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log_file.close()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def records(self):
        """Every complete JSON line rsyslog wrote so far."""
        if not os.path.exists(self.out):
            return []
        with open(self.out, "rb") as f:
            data = f.read()
        return [json.loads(l) for l in data.split(b"\n")[:-1]]
