#!/usr/bin/env python3
"""Fake Asterisk AMI server that streams real captured events as fast as possible.

Usage: ami_stream_server.py PORT [N_EVENTS] [options]

* Listens on 127.0.0.1:PORT only.  One thread pair per connection; any number of
  sequential or concurrent connections.
* Sends the real banner `Asterisk Call Manager/11.0.0\\r\\n`.
* Accepts any `Login` (plaintext or `AuthType: MD5` + `Key`), answers `Challenge`
  with a fixed challenge, answers `Logoff` with `Goodbye` and closes, and answers any
  other action (Ping, ...) with a well-formed `Response: Success` echoing `ActionID`
  (`Ping` gets `Ping: Pong` + `Timestamp:` like the real server).
* Streams N events taken cyclically from the `Event:` messages of the real capture
  tests/fixtures/asterisk-22/ami/16-event-burst-50-calls.server.txt (bytes exact), then the sentinel
  `Event: UserEvent\\r\\nUserEvent: BenchEnd\\r\\n\\r\\n`, then keeps the socket open
  until the client closes it.
* When the stream starts (--start-on):
    ping   (default) after the response to the first action that is not Login /
           Challenge (the bench clients send a Ping after subscribing, so no library
           can lose events to a subscribe-after-login race);
    login  right after the Login response;
    connect right after the banner, no login needed (for `socat -u` drains).
* --close-after-end: close the socket right after the sentinel (for socat drains).

The whole event stream is pre-built (one cycle of the 1,302 captured events =
~507 KB, repeated to a ~4 MB block); it is written with blocking sendall() on
memoryview slices aligned to event boundaries, so the server does no per-event
work and action responses can be interleaved between slices at message
boundaries.  Prints nothing but errors (to stderr).
"""
import argparse
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURE = os.path.normpath(os.path.join(
    HERE, '..', '..', 'tests', 'fixtures', 'asterisk-22', 'ami', '16-event-burst-50-calls.server.txt'))

BANNER = b'Asterisk Call Manager/11.0.0\r\n'
SENTINEL = b'Event: UserEvent\r\nUserEvent: BenchEnd\r\n\r\n'
CHALLENGE = b'572601176'
BLOCK_TARGET_BYTES = 4 << 20  # pre-built block size (whole cycles)


def load_events(path):
    data = open(path, 'rb').read()
    if data.startswith(b'Asterisk Call Manager/'):
        data = data[data.index(b'\r\n') + 2:]
    events = []
    for msg in data.split(b'\r\n\r\n'):
        if msg.startswith(b'Event:'):
            events.append(msg + b'\r\n\r\n')
    if not events:
        raise SystemExit('no Event: messages in %s' % path)
    return events


class Stream:
    """Pre-built payload: `block` holds `reps` whole cycles of the events."""

    def __init__(self, events):
        self.per_cycle = len(events)
        cycle = b''.join(events)
        self.cycle_len = len(cycle)
        # byte offset of the end of the first k events of one cycle
        self.offsets = [0]
        for ev in events:
            self.offsets.append(self.offsets[-1] + len(ev))
        self.reps = max(1, BLOCK_TARGET_BYTES // len(cycle))
        self.block = cycle * self.reps
        self.block_view = memoryview(self.block)

    def slices(self, n):
        """Yield memoryview slices (event-aligned) that together carry n events."""
        full_cycles, rest = divmod(n, self.per_cycle)
        full_blocks, cycles_left = divmod(full_cycles, self.reps)
        # yield at cycle granularity (~507 KB) so responses can interleave
        cyc = self.cycle_len
        for _ in range(full_blocks):
            for i in range(self.reps):
                yield self.block_view[i * cyc:(i + 1) * cyc]
        for i in range(cycles_left):
            yield self.block_view[i * cyc:(i + 1) * cyc]
        if rest:
            yield self.block_view[:self.offsets[rest]]


def parse_messages(buf):
    """Split complete messages (blank-line terminated) off buf.

    Returns (list of header dicts with lower-case keys, remaining bytes).
    Accepts CRLF or bare LF line ends.
    """
    msgs = []
    norm = buf.replace(b'\r\n', b'\n')
    while True:
        idx = norm.find(b'\n\n')
        if idx < 0:
            break
        block, norm = norm[:idx], norm[idx + 2:]
        headers = {}
        for line in block.split(b'\n'):
            if not line.strip():
                continue
            k, sep, v = line.partition(b':')
            headers.setdefault(k.strip().lower().decode('latin-1'),
                               v.strip().decode('latin-1'))
        if headers:
            msgs.append(headers)
    return msgs, norm


def response(headers, *lines):
    out = [b'Response: ' + lines[0]]
    aid = headers.get('actionid')
    if aid is not None:
        out.append(b'ActionID: ' + aid.encode('latin-1'))
    out.extend(lines[1:])
    return b'\r\n'.join(out) + b'\r\n\r\n'


class Conn:
    def __init__(self, sock, stream, n, start_on, close_after_end):
        self.sock = sock
        self.stream = stream
        self.n = n
        self.start_on = start_on
        self.close_after_end = close_after_end
        self.lock = threading.Lock()        # serialises writes at message boundaries
        self.start = threading.Event()
        self.logged_off = threading.Event()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def reader(self):
        buf = b''
        logged_in = False
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                msgs, buf = parse_messages(buf + data)
                for h in msgs:
                    action = h.get('action', '').lower()
                    if action == 'login':
                        self.send(response(h, b'Success', b'Message: Authentication accepted'))
                        logged_in = True
                        if self.start_on == 'login':
                            self.start.set()
                    elif action == 'challenge':
                        self.send(response(h, b'Success', b'Challenge: ' + CHALLENGE))
                    elif action == 'logoff':
                        self.send(response(h, b'Goodbye', b'Message: Thanks for all the fish.'))
                        self.logged_off.set()
                        self.start.set()
                        self.sock.shutdown(socket.SHUT_RDWR)
                        return
                    elif action == 'ping':
                        ts = ('%.6f' % time.time()).encode()
                        self.send(response(h, b'Success', b'Ping: Pong', b'Timestamp: ' + ts))
                        if logged_in:
                            self.start.set()
                    else:
                        self.send(response(h, b'Success', b'Message: OK'))
                        if logged_in:
                            self.start.set()
        except OSError:
            pass
        finally:
            # client closed (or half-closed) its side: if the stream was never
            # triggered there is nothing to stream to
            if not self.start.is_set():
                self.logged_off.set()
                self.start.set()

    def writer(self):
        try:
            if self.start_on == 'connect':
                self.start.set()
            self.start.wait()
            if self.logged_off.is_set():
                return
            for chunk in self.stream.slices(self.n):
                self.send(chunk)
            self.send(SENTINEL)
            if self.close_after_end:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # client went away mid-stream

    def run(self):
        try:
            self.sock.sendall(BANNER)   # before any response can be written
        except OSError:
            self.sock.close()
            return
        rt = threading.Thread(target=self.reader, daemon=True)
        rt.start()
        self.writer()
        rt.join()   # keep the socket open until the client closes it
        self.sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('port', type=int)
    ap.add_argument('n', type=int, nargs='?', default=1_000_000)
    ap.add_argument('--fixture', default=DEFAULT_FIXTURE)
    ap.add_argument('--start-on', choices=('ping', 'login', 'connect'), default='ping')
    ap.add_argument('--close-after-end', action='store_true')
    a = ap.parse_args()

    stream = Stream(load_events(a.fixture))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', a.port))
    ls.listen(16)
    while True:
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(s, stream, a.n, a.start_on, a.close_after_end)
        threading.Thread(target=c.run, daemon=True).start()


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
