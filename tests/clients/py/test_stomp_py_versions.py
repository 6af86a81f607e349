"""stomp.py's STOMP 1.0 and 1.1 protocol classes over WebSocket against a STOMP server.

Usage: STOMP_WS_URL=ws://127.0.0.1:8080/ws python3 test_stomp_py_versions.py
   or: python3 test_stomp_py_versions.py ws://127.0.0.1:8080/ws

stomp.py ships a WebSocket connection for 1.2 only (WSStompConnection); the classes below pair
its WebSocket transport with the 1.0 and 1.1 protocol classes, as stomp.py's own
StompConnection10/11 pair them with TCP. Like a browser library, they offer the subprotocols
`v10.stomp, v11.stomp, v12.stomp`, so the server picks `v12.stomp`: the STOMP version must
still come from CONNECT. The 1.0 client sends no `accept-version` (STOMP 1.0 has none).

Each version runs: connect, subscribe with and without id, unsubscribe by id and (1.0) by
destination, ACK/NACK in `client` and `client-individual` modes by `message-id` (and
`subscription` in 1.1), transactions with SEND and ACK. Exits non-zero if any test fails.
"""

import os
import sys
import threading
import time
import unittest
import uuid
from urllib.parse import urlparse

import stomp
from stomp.exception import NotConnectedException
from websocket import WebSocketConnectionClosedException
from stomp.adapter.ws import WSTransport
from stomp.connect import BaseConnection
from stomp.protocol import Protocol10, Protocol11

WS_URL = os.environ.get("STOMP_WS_URL")
if len(sys.argv) > 1 and sys.argv[1].startswith(("ws://", "wss://")):
    WS_URL = sys.argv.pop(1)
if not WS_URL:
    sys.exit("error: no server URL: set STOMP_WS_URL=ws://127.0.0.1:8080/ws or pass it as an argument")
TIMEOUT = 10.0
OFFERED = ["Sec-WebSocket-Protocol: v10.stomp, v11.stomp, v12.stomp"]


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def transport():
    url = urlparse(WS_URL)
    return WSTransport(
        [(url.hostname, url.port or 80)],
        ws_path=url.path or "/",
        header=OFFERED,
        reconnect_attempts_max=1,
    )


class WSStompConnection10(BaseConnection, Protocol10):
    """A STOMP 1.0 connection over WebSocket; CONNECT carries no `accept-version`."""

    def __init__(self):
        t = transport()
        BaseConnection.__init__(self, t)
        Protocol10.__init__(self, t)

    def send_frame(self, cmd, headers=None, body=""):
        if cmd == "CONNECT":
            headers = {k: v for k, v in (headers or {}).items() if k != "accept-version"}
        Protocol10.send_frame(self, cmd, headers, body)

    def connect(self, *args, **kwargs):
        self.transport.start()
        Protocol10.connect(self, *args, **kwargs)

    def disconnect(self, receipt=None, headers=None, **keyword_headers):
        Protocol10.disconnect(self, receipt, headers, **keyword_headers)
        if receipt is not None:
            self.transport.stop()


class WSStompConnection11(BaseConnection, Protocol11):
    """A STOMP 1.1 connection over WebSocket (`accept-version: 1.1`)."""

    def __init__(self):
        t = transport()
        BaseConnection.__init__(self, t)
        Protocol11.__init__(self, t, (0, 0))

    def connect(self, *args, **kwargs):
        self.transport.start()
        Protocol11.connect(self, *args, **kwargs)

    def disconnect(self, receipt=None, headers=None, **keyword_headers):
        Protocol11.disconnect(self, receipt, headers, **keyword_headers)
        if receipt is not None:
            self.transport.stop()


class Inbox(stomp.ConnectionListener):
    """Collects MESSAGE, RECEIPT and ERROR frames; waits on them with a deadline."""

    def __init__(self):
        self.cond = threading.Condition()
        self.messages, self.receipts, self.errors = [], [], []
        self.connected = None

    def _add(self, kind, frame):
        with self.cond:
            getattr(self, kind).append(frame)
            self.cond.notify_all()

    def on_connected(self, frame):
        with self.cond:
            self.connected = frame
            self.cond.notify_all()

    def on_message(self, frame):
        self._add("messages", frame)

    def on_receipt(self, frame):
        self._add("receipts", frame)

    def on_error(self, frame):
        self._add("errors", frame)

    def wait(self, pred, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = pred(self)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}; errors: "
                                         f"{[e.headers for e in self.errors]}")
                self.cond.wait(left)

    def bodies(self, sub):
        with self.cond:
            return [m.body for m in self.messages if m.headers.get("subscription") == sub]

    def wait_body(self, body, sub):
        return self.wait(
            lambda box: next((m for m in box.messages
                              if m.body == body and m.headers.get("subscription") == sub), None),
            f"message {body!r} on {sub}",
        )

    def wait_messages(self, n, sub):
        def pick(box):
            got = [m for m in box.messages if m.headers.get("subscription") == sub]
            return got if len(got) >= n else None
        return self.wait(pick, f"{n} message(s) on {sub}")

    def wait_receipt(self, rid):
        return self.wait(lambda box: next((r for r in box.receipts
                                           if r.headers.get("receipt-id") == rid), None),
                         f"RECEIPT {rid}")

    def wait_error(self):
        return self.wait(lambda box: box.errors[0] if box.errors else None, "ERROR")


class Client:
    def __init__(self, version):
        self.version = version
        self.conn = WSStompConnection10() if version == "1.0" else WSStompConnection11()
        self.inbox = Inbox()
        self.conn.set_listener("inbox", self.inbox)
        self.conn.connect(unique("py-"), "secret", wait=True)
        self.inbox.wait(lambda box: box.connected, "CONNECTED")

    def subscribe(self, destination, id=None, ack="auto"):
        """Subscribes (with `id`, or in 1.0 without) and waits until it is live. Returns the
        subscription id the server uses (the destination for a 1.0 subscription without id)."""
        rid = unique("r-")
        if self.version == "1.0":
            self.conn.subscribe(destination, id=id, ack=ack, headers={"receipt": rid})
        else:
            self.conn.subscribe(destination, id, ack=ack, headers={"receipt": rid})
        self.inbox.wait_receipt(rid)
        return id if id is not None else destination

    def send(self, destination, body, **headers):
        rid = unique("r-")
        self.conn.send(destination, body, headers={**headers, "receipt": rid})
        self.inbox.wait_receipt(rid)

    def frame(self, command, **headers):
        """A frame with a receipt, waiting for the RECEIPT."""
        rid = unique("r-")
        self.conn.send_frame(command, {**headers, "receipt": rid})
        self.inbox.wait_receipt(rid)

    def ack(self, message, sub, transaction=None):
        """ACK the way this version's clients do: by `message-id` (+ `subscription` in 1.1)."""
        headers = {"message-id": message.headers["message-id"]}
        if self.version == "1.1":
            headers["subscription"] = sub
        if transaction:
            headers["transaction"] = transaction
        self.frame("ACK", **headers)

    def nack(self, message, sub):
        self.frame("NACK", **{"message-id": message.headers["message-id"], "subscription": sub})

    def close(self):
        if not self.conn.is_connected():
            return
        try:
            self.conn.disconnect(receipt=unique("bye-"))
        except (WebSocketConnectionClosedException, NotConnectedException, OSError):
            # After an ERROR the server closes the socket; stomp.py may not have noticed yet.
            if not self.inbox.errors:
                raise


class VersionTests:
    VERSION = None

    def client(self):
        c = Client(self.VERSION)
        self.addCleanup(c.close)
        return c

    def test_connected_names_the_version(self):
        c = self.client()
        headers = c.inbox.connected.headers
        self.assertEqual(headers.get("version"), self.VERSION)
        if self.VERSION == "1.0":
            self.assertNotIn("heart-beat", headers, "no heart-beats in 1.0")

    def test_header_escaping_of_the_version(self):
        # 1.1 escapes `:` and `\\` in header values; 1.0 sends them as they are. Either way
        # the value arrives unchanged. (stomp.py unescapes received headers in 1.0 too, so a
        # backslash is checked in 1.1 only; stomp-core/tests/versions.rs checks the bytes.)
        value = "a:b\\c" if self.VERSION == "1.1" else "a:b"
        topic = f"/topic/{unique('py.v.esc.')}"
        c = self.client()
        sub = c.subscribe(topic, id=unique("esc-"))
        c.send(topic, "x", **{"x-note": value})
        m = c.inbox.wait_body("x", sub)
        self.assertEqual(m.headers.get("x-note"), value)

    def test_subscribe_with_id_and_unsubscribe_by_id(self):
        topic = f"/topic/{unique('py.v.id.')}"
        c = self.client()
        keep = c.subscribe(topic, id=unique("keep-"))
        drop = c.subscribe(topic, id=unique("drop-"))
        c.send(topic, "both")
        c.inbox.wait_body("both", keep)
        c.inbox.wait_body("both", drop)
        rid = unique("r-")
        c.conn.unsubscribe(id=drop, headers={"receipt": rid})
        c.inbox.wait_receipt(rid)
        c.send(topic, "one")
        c.inbox.wait_body("one", keep)
        self.assertEqual(c.inbox.bodies(drop), ["both"])

    def test_client_individual_ack_and_nack(self):
        queue = f"/queue/{unique('py.v.ci.')}"
        c = self.client()
        sub = c.subscribe(queue, id=unique("ci-"), ack="client-individual")
        for body in ("m1", "m2", "m3"):
            c.send(queue, body)
        got = c.inbox.wait_messages(3, sub)
        self.assertEqual([m.body for m in got], ["m1", "m2", "m3"])
        ids = {m.headers["message-id"] for m in got}
        self.assertEqual(len(ids), 3, "a message id per delivery")
        for m in got:
            self.assertNotIn("ack", m.headers, f"no 1.2 ack header in {self.VERSION}")
        c.ack(got[0], sub)
        if self.VERSION == "1.1":
            c.nack(got[1], sub)
            again = c.inbox.wait_messages(4, sub)
            self.assertEqual(again[3].body, "m2", "the NACKed message is redelivered")
            c.ack(again[3], sub)
        else:
            c.ack(got[1], sub)
        c.ack(got[2], sub)
        c.send(queue, "marker")
        marker = c.inbox.wait_body("marker", sub)
        c.ack(marker, sub)
        self.assertEqual(c.inbox.errors, [])

    def test_client_ack_is_cumulative(self):
        queue = f"/queue/{unique('py.v.c.')}"
        first = self.client()
        sub = first.subscribe(queue, id=unique("c-"), ack="client")
        for body in ("m1", "m2", "m3"):
            first.send(queue, body)
        got = first.inbox.wait_messages(3, sub)
        first.ack(got[1], sub)  # m1 and m2
        self.assertEqual(first.inbox.errors, [])
        first.close()
        second = self.client()
        sub2 = second.subscribe(queue, id=unique("c2-"))
        second.inbox.wait_body("m3", sub2)
        second.send(queue, "end")
        second.inbox.wait_body("end", sub2)
        self.assertEqual(second.inbox.bodies(sub2), ["m3", "end"])

    def test_transactions_send_and_ack(self):
        queue = f"/queue/{unique('py.v.tx.')}"
        c = self.client()
        sub = c.subscribe(queue, id=unique("tx-"), ack="client-individual")
        # SEND in a transaction: nothing until COMMIT; ABORT drops it.
        c.frame("BEGIN", transaction="t1")
        c.send(queue, "committed", transaction="t1")
        c.frame("BEGIN", transaction="t2")
        c.send(queue, "aborted", transaction="t2")
        c.frame("ABORT", transaction="t2")
        self.assertEqual(c.inbox.bodies(sub), [])
        c.frame("COMMIT", transaction="t1")
        (m,) = c.inbox.wait_messages(1, sub)
        self.assertEqual(m.body, "committed")
        # ACK in an aborted transaction does not count: the message is still pending, so a
        # plain ACK of it afterwards is accepted.
        c.frame("BEGIN", transaction="t3")
        c.ack(m, sub, transaction="t3")
        c.frame("ABORT", transaction="t3")
        c.ack(m, sub)
        # ACK in a committed transaction settles the message: the next consumer never sees it.
        c.send(queue, "second")
        second = c.inbox.wait_body("second", sub)
        c.frame("BEGIN", transaction="t4")
        c.ack(second, sub, transaction="t4")
        c.frame("COMMIT", transaction="t4")
        self.assertEqual(c.inbox.errors, [])
        c.close()
        other = self.client()
        sub2 = other.subscribe(queue, id=unique("after-"))
        other.send(queue, "end")
        other.inbox.wait_body("end", sub2)
        self.assertEqual(other.inbox.bodies(sub2), ["end"], "nothing aborted or acked comes back")


class Stomp10Test(VersionTests, unittest.TestCase):
    VERSION = "1.0"

    def test_subscribe_without_id_and_unsubscribe_by_destination(self):
        topic = f"/topic/{unique('py.v10.dest.')}"
        other = f"/topic/{unique('py.v10.other.')}"
        c = self.client()
        sub = c.subscribe(topic)  # no id: the destination serves as the id
        mark = c.subscribe(other)
        c.send(topic, "first")
        m = c.inbox.wait_body("first", sub)
        self.assertEqual(m.headers.get("subscription"), topic)
        rid = unique("r-")
        c.conn.unsubscribe(destination=topic, headers={"receipt": rid})
        c.inbox.wait_receipt(rid)
        c.send(topic, "after")
        c.send(other, "marker")
        c.inbox.wait_body("marker", mark)
        self.assertEqual(c.inbox.bodies(sub), ["first"], "nothing after UNSUBSCRIBE by destination")

    def test_client_ack_without_id_subscription(self):
        queue = f"/queue/{unique('py.v10.noid.')}"
        c = self.client()
        sub = c.subscribe(queue, ack="client")
        c.send(queue, "m1")
        (m,) = c.inbox.wait_messages(1, sub)
        c.conn.ack(m.headers["message-id"], receipt="acked")
        c.inbox.wait_receipt("acked")
        self.assertEqual(c.inbox.errors, [])

    def test_nack_is_an_error_in_1_0(self):
        queue = f"/queue/{unique('py.v10.nack.')}"
        c = self.client()
        sub = c.subscribe(queue, ack="client")
        c.send(queue, "m1")
        (m,) = c.inbox.wait_messages(1, sub)
        c.conn.send_frame("NACK", {"message-id": m.headers["message-id"]})
        error = c.inbox.wait_error()
        self.assertEqual(error.headers.get("message"), "NACK is not part of STOMP 1.0")


class Stomp11Test(VersionTests, unittest.TestCase):
    VERSION = "1.1"

    def test_subscribe_without_id_is_an_error_in_1_1(self):
        c = self.client()
        c.conn.send_frame("SUBSCRIBE", {"destination": f"/topic/{unique('py.v11.noid.')}"})
        error = c.inbox.wait_error()
        self.assertEqual(error.headers.get("message"), "missing id header")

    def test_ack_names_the_subscription(self):
        queue = f"/queue/{unique('py.v11.sub.')}"
        c = self.client()
        sub = c.subscribe(queue, id=unique("s-"), ack="client")
        c.subscribe(f"/queue/{unique('py.v11.other.')}", id="other", ack="client")
        c.send(queue, "m1")
        (m,) = c.inbox.wait_messages(1, sub)
        c.conn.ack(m.headers["message-id"], "other")
        error = c.inbox.wait_error()
        self.assertTrue(error.headers.get("message", "").startswith("no message pending"), error.headers)


if __name__ == "__main__":
    watchdog = threading.Timer(150, lambda: (print("error: python version tests timed out", file=sys.stderr), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    result = unittest.main(exit=False, verbosity=2).result
    sys.stdout.flush()
    os._exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
