"""A small Splunk HTTP Event Collector for the HEC sink tests and benchmark (python3 stdlib: http.server + ssl).

What it is for: test_hec*.py start it in a thread on a loopback port (HTTPS with a test CA, or plain HTTP) and
point the collector's hec+https:// / hec+http:// sink at it. It checks what Splunk checks and the sink promises:

  - `Authorization: Splunk <token>`: a wrong or missing token gets 401 {"text":"Invalid authorization","code":3}
  - `Content-Encoding: gzip` (required unless require_gzip=False) and a body that inflates
  - the batch shape: concatenated JSON objects, each with `event` (an object), `time` (number, seconds),
    `host`, `source`, `sourcetype` ("ocsf:..."), optional `index`; else 400 {"text":"Invalid data format",
    "code":6,"invalid-event-number":I}
  - indexer acknowledgement: with ack=True every accepted batch gets an `ackId` (per X-Splunk-Request-Channel) and
    POST /services/collector/ack {"acks":[...]} answers {"acks":{"ID":true|false}}; hold_acks keeps them false

Faults, set on the server object by a test: fail_503 (the next N event requests get 503), delay_s / delay_first
(sleep before answering: every request, or only the next N), reject_keys (events whose emitter id is in the set make
the batch a 400 naming the event, or without invalid-event-number when report_index is False), force_401.

Accepted events are appended to `events` (dicts, in arrival order) only when their batch is answered 200; every
request is logged in `requests` (path, status, number of events, gzip or not).

Standalone (benchmark endpoint): python3 hec_server.py --port 8088 --token-file F [--cert C --key K]
prints "listening on PORT" and, every second, the number of events accepted. It checks the token and inflates the
gzip body but only counts the events (one per line, as the sink writes them) so that it is not the bottleneck.
"""

import argparse
import gzip
import json
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUIRED = ("event", "time", "host", "source", "sourcetype")


def event_key(ev):
    """The emitter's id of an OCSF event (metadata.original_event_uid) or of a raw envelope (id)."""
    if not isinstance(ev, dict):
        return None
    meta = ev.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("original_event_uid"), str):
        return meta["original_event_uid"]
    return ev.get("id")


class HecState:
    def __init__(self, token, ack=False, require_gzip=True, keep_events=True):
        self.token = token
        self.ack = ack
        self.require_gzip = require_gzip
        self.keep_events = keep_events
        self.lock = threading.Lock()
        self.events = []
        self.accepted = 0
        self.requests = []
        self.n_requests = 0
        self.fail_503 = 0
        self.delay_s = 0.0
        self.delay_first = 0
        self.delay_first_s = 0.0
        self.reject_keys = set()
        self.report_index = True
        self.force_401 = False
        self.hold_acks = False
        self.next_ack = {}
        self.acked = {}  # (channel, id) -> True once released


def parse_batch(data):
    """The concatenated JSON objects of a HEC body; raises ValueError with the index of the bad one."""
    dec = json.JSONDecoder()
    text = data.decode("utf-8")
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return out
        try:
            obj, pos = dec.raw_decode(text, pos)
        except ValueError:
            raise ValueError(len(out))
        out.append(obj)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Splunk
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall per answer

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout_ms shorter than our delay): what the test wants
            self.close_connection = True

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        is_gzip = self.headers.get("Content-Encoding") == "gzip"
        log = {"path": self.path, "gzip": is_gzip, "events": 0, "status": 200}
        with st.lock:
            st.n_requests += 1
            if st.keep_events:
                st.requests.append(log)
            delay = st.delay_s
            if st.delay_first > 0 and self.path.startswith("/services/collector/event"):
                st.delay_first -= 1
                delay = max(delay, st.delay_first_s)
        if delay:
            time.sleep(delay)

        def answer(status, obj):
            log["status"] = status
            self.reply(status, obj)

        if st.force_401 or self.headers.get("Authorization") != "Splunk " + st.token:
            return answer(401, {"text": "Invalid authorization", "code": 3})
        channel = self.headers.get("X-Splunk-Request-Channel")
        if self.path.split("?")[0] == "/services/collector/ack":
            try:
                ids = json.loads(raw)["acks"]
            except (ValueError, KeyError, TypeError):
                return answer(400, {"text": "Invalid data format", "code": 6})
            with st.lock:
                res = {str(i): bool(st.acked.get((channel, i))) and not st.hold_acks for i in ids}
            return answer(200, {"acks": res})
        if self.path.split("?")[0] != "/services/collector/event":
            return answer(404, {"text": "The requested URL was not found on this server.", "code": 404})
        with st.lock:
            if st.fail_503 > 0:
                st.fail_503 -= 1
                return answer(503, {"text": "Server is busy", "code": 9})
        if is_gzip:
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                return answer(400, {"text": "Invalid data format (gzip)", "code": 6})
        elif st.require_gzip:
            return answer(400, {"text": "test server: Content-Encoding gzip required", "code": 6})
        if not st.keep_events:  # benchmark mode: count, do not parse (the endpoint must not be the bottleneck)
            with st.lock:
                st.accepted += raw.count(b"\n") or 1
            return answer(200, {"text": "Success", "code": 0})
        try:
            batch = parse_batch(raw)
        except ValueError as e:
            return answer(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": e.args[0]})
        log["events"] = len(batch)
        if not batch:
            return answer(400, {"text": "No data", "code": 5})
        for i, ev in enumerate(batch):
            ok = (isinstance(ev, dict) and all(k in ev for k in REQUIRED) and isinstance(ev["event"], dict)
                  and isinstance(ev["time"], (int, float)) and str(ev["sourcetype"]).startswith("ocsf:"))
            if ok and event_key(ev["event"]) in st.reject_keys:
                ok = False
            if not ok:
                err = {"text": "Invalid data format", "code": 6}
                if st.report_index:
                    err["invalid-event-number"] = i
                return answer(400, err)
        with st.lock:
            if st.keep_events:
                st.events.extend(batch)
            st.accepted += len(batch)
            if st.ack:
                if not channel:
                    return answer(400, {"text": "Data channel is missing", "code": 10})
                ack_id = st.next_ack.get(channel, 0)
                st.next_ack[channel] = ack_id + 1
                st.acked[(channel, ack_id)] = True
                return answer(200, {"text": "Success", "code": 0, "ackId": ack_id})
        return answer(200, {"text": "Success", "code": 0})


class HecServer:
    """Serves HEC on 127.0.0.1 (port 0: the kernel picks; see .port) in a daemon thread."""

    def __init__(self, token, cert=None, key=None, port=0, **kw):
        self.state = HecState(token, **kw)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __getattr__(self, name):
        return getattr(self.state, name)


def main():
    ap = argparse.ArgumentParser(description="A test Splunk HEC endpoint (counts what it accepts)")
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    with open(a.token_file) as f:
        token = f.read().strip()
    srv = HecServer(token, a.cert, a.key, a.port, keep_events=False).start()
    print("listening on %d" % srv.port, flush=True)
    last = -1
    while True:
        time.sleep(1)
        if srv.state.accepted != last:
            last = srv.state.accepted
            print("accepted %d events in %d requests" % (last, srv.state.n_requests), flush=True)


if __name__ == "__main__":
    main()
