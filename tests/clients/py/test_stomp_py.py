"""stomp.py (over WebSocket, via websocket-client) against a STOMP-over-WebSocket server.

Usage: STOMP_WS_URL=ws://127.0.0.1:8080/ws python3 test_stomp_py.py
   or: python3 test_stomp_py.py ws://127.0.0.1:8080/ws
STOMP_FLAVOR=rabbitmq skips the tests that need the chat server's /app handlers and /user
destinations and logs in as guest/guest. Exits non-zero if any test fails.
"""

import json
import os
import sys
import threading
import time
import unittest
import uuid
from urllib.parse import urlparse

import stomp
from stomp.adapter.ws import WSStompConnection

WS_URL = os.environ.get("STOMP_WS_URL")
if len(sys.argv) > 1 and sys.argv[1].startswith(("ws://", "wss://")):
    WS_URL = sys.argv.pop(1)
if not WS_URL:
    sys.exit("error: no server URL: set STOMP_WS_URL=ws://127.0.0.1:8080/ws or pass it as an argument")
FLAVOR = os.environ.get("STOMP_FLAVOR", "stomp-axum")
OURS = FLAVOR != "rabbitmq"
needs_ours = unittest.skipUnless(OURS, f"needs the chat server's /app and /user (flavor {FLAVOR})")
TIMEOUT = 5.0


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Inbox(stomp.ConnectionListener):
    """Collects MESSAGE, RECEIPT and ERROR frames; waits on them with a deadline."""

    def __init__(self):
        self.cond = threading.Condition()
        self.messages = []
        self.receipts = []
        self.errors = []
        self.connected = None
        self.disconnected = False
        self.heartbeats = 0

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

    def on_heartbeat(self):
        with self.cond:
            self.heartbeats += 1
            self.cond.notify_all()

    def on_disconnected(self):
        with self.cond:
            self.disconnected = True
            self.cond.notify_all()

    def wait(self, pred, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = pred(self)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self.cond.wait(left)

    def wait_messages(self, n, sub=None, timeout=TIMEOUT):
        def pick(box):
            got = [m for m in box.messages if sub is None or m.headers.get("subscription") == sub]
            return got if len(got) >= n else None

        return self.wait(pick, f"{n} message(s) on subscription {sub}", timeout)

    def wait_body(self, body, sub=None):
        return self.wait(
            lambda box: next((m for m in box.messages if m.body == body
                              and (sub is None or m.headers.get("subscription") == sub)), None),
            f"message {body!r}",
        )

    def wait_receipt(self, rid):
        return self.wait(
            lambda box: next((r for r in box.receipts if r.headers.get("receipt-id") == rid), None),
            f"RECEIPT {rid}",
        )


class Client:
    """One stomp.py connection over WebSocket with an Inbox."""

    def __init__(self, login=None, heartbeats=(0, 0)):
        url = urlparse(WS_URL)
        self.login = login or unique("py-")
        self.inbox = Inbox()
        self.conn = WSStompConnection(
            [(url.hostname, url.port or 80)],
            ws_path=url.path or "/",
            heartbeats=heartbeats,
            reconnect_attempts_max=1,
            # No socket timeout: it is a read timeout, and quiet connections are normal. The
            # waits below and the watchdog in __main__ bound the run instead.
            # RabbitMQ reads the `host` header as its virtual host.
            vhost=None if OURS else os.environ.get("STOMP_VHOST", "/"),
        )
        self.conn.set_listener("inbox", self.inbox)
        if OURS:
            login, passcode = self.login, "secret"
        else:
            login = os.environ.get("STOMP_LOGIN", "guest")
            passcode = os.environ.get("STOMP_PASSCODE", "guest")
        self.conn.connect(login, passcode, wait=True, with_connect_command=True)
        self.inbox.wait(lambda box: box.connected, "CONNECTED")

    def subscribe(self, destination, ack="auto"):
        sub, rid = unique("sub-"), unique("r-")
        self.conn.subscribe(destination, id=sub, ack=ack, headers={"receipt": rid})
        self.inbox.wait_receipt(rid)
        return sub

    def send(self, destination, body, **headers):
        rid = unique("r-")
        self.conn.send(destination, body, headers={**headers, "receipt": rid})
        self.inbox.wait_receipt(rid)

    def send_json(self, destination, payload):
        self.send(destination, json.dumps(payload), **{"content-type": "application/json"})

    def close(self):
        if self.conn.is_connected():
            self.conn.disconnect(receipt=unique("bye-"))


class StompPyTest(unittest.TestCase):
    def client(self, **kw):
        c = Client(**kw)
        self.addCleanup(c.close)
        return c

    def test_connect_version_and_heartbeats(self):
        c = self.client(heartbeats=(500, 500))
        connected = c.inbox.connected
        self.assertEqual(connected.headers.get("version"), "1.2")
        hb = connected.headers.get("heart-beat", "")
        sx, sy = (int(x) for x in hb.split(","))
        self.assertGreater(sx, 0, f"server sends heart-beats (heart-beat: {hb})")
        self.assertGreater(sy, 0, f"server expects heart-beats (heart-beat: {hb})")
        # Two heart-beats from the server, and the connection still up.
        c.inbox.wait(lambda box: box.heartbeats >= 2, "two heart-beats", timeout=max(sx, 500) * 4 / 1000 + 2)
        self.assertTrue(c.conn.is_connected(), "still connected after heart-beat periods")
        self.assertEqual(c.inbox.errors, [])

    def test_topic_broadcast_with_headers(self):
        topic = f"/topic/{unique('py.topic.')}"
        a, b = self.client(), self.client()
        sub_a, sub_b = a.subscribe(topic), b.subscribe(topic)
        body = "héllo ✓ from stomp.py"
        b.send(topic, body, **{"x-note": "a:b", "content-type": "text/plain;charset=utf-8"})
        for who, c, sub in (("a", a, sub_a), ("b", b, sub_b)):
            (m,) = c.inbox.wait_messages(1, sub)
            self.assertEqual(m.body, body, who)
            self.assertEqual(m.headers["destination"], topic, who)
            self.assertEqual(m.headers.get("x-note"), "a:b", f"escaped user header at {who}")
            self.assertIn("message-id", m.headers)

    def test_receipt_for_unsubscribe_then_no_delivery(self):
        topic = f"/topic/{unique('py.unsub.')}"
        c = self.client()
        keep, drop = c.subscribe(topic), c.subscribe(topic)
        rid = unique("r-")
        c.conn.unsubscribe(drop, headers={"receipt": rid})
        c.inbox.wait_receipt(rid)
        c.send(topic, "after")
        c.inbox.wait_messages(1, keep)
        self.assertEqual([m for m in c.inbox.messages if m.headers.get("subscription") == drop], [])

    def test_client_individual_nack_redelivers(self):
        queue = f"/queue/{unique('py.ci.')}"
        c = self.client()
        sub = c.subscribe(queue, ack="client-individual")
        for body in ("m1", "m2", "m3"):
            c.send(queue, body)
        got = c.inbox.wait_messages(3, sub)
        self.assertEqual([m.body for m in got], ["m1", "m2", "m3"])
        ack_id = lambda m: m.headers["ack"]  # noqa: E731
        c.conn.ack(ack_id(got[0]))
        c.conn.nack(ack_id(got[1]))
        c.conn.ack(ack_id(got[2]))
        again = c.inbox.wait_messages(4, sub)
        self.assertEqual(again[3].body, "m2", "the NACKed message is redelivered")
        c.conn.ack(ack_id(again[3]))
        c.send(queue, "marker")
        c.inbox.wait_body("marker", sub)
        self.assertEqual([m.body for m in c.inbox.messages], ["m1", "m2", "m3", "m2", "marker"])

    def test_client_ack_is_cumulative(self):
        queue = f"/queue/{unique('py.c.')}"
        first = self.client()
        sub = first.subscribe(queue, ack="client")
        for body in ("m1", "m2", "m3"):
            first.send(queue, body)
        got = first.inbox.wait_messages(3, sub)
        first.conn.ack(got[1].headers["ack"])  # m1 and m2
        first.send("/topic/py.sync", "sync")
        first.close()
        second = self.client()
        sub2 = second.subscribe(queue)
        second.inbox.wait_body("m3", sub2)
        second.send(queue, "end")
        second.inbox.wait_body("end", sub2)
        bodies = [m.body for m in second.inbox.messages]
        self.assertNotIn("m1", bodies)
        self.assertNotIn("m2", bodies)

    @needs_ours
    def test_app_chat_handler(self):
        room = unique("room")
        alice, watcher = self.client(login=unique("alice")), self.client()
        sub = watcher.subscribe(f"/topic/chat.{room}")
        alice.send_json(f"/app/chat/{room}", {"text": "hi from python"})
        (m,) = watcher.inbox.wait_messages(1, sub)
        msg = json.loads(m.body)
        self.assertEqual(msg["text"], "hi from python")
        self.assertEqual(msg["from"], alice.login)
        self.assertEqual(msg["room"], room)

    @needs_ours
    def test_subscribe_mapping_online(self):
        c = self.client(login=unique("olive"))
        sub = c.subscribe("/app/online")
        (m,) = c.inbox.wait_messages(1, sub)
        names = [u if isinstance(u, str) else u["name"] for u in json.loads(m.body)]
        self.assertIn(c.login, names)

    @needs_ours
    def test_user_destination_private_message(self):
        alice, bob = self.client(login=unique("alice")), self.client(login=unique("bob"))
        sub = alice.subscribe("/user/queue/inbox")
        bob.send_json("/app/private", {"to": alice.login, "text": "psst"})
        (m,) = alice.inbox.wait_messages(1, sub)
        msg = json.loads(m.body)
        self.assertEqual((msg["from"], msg["to"], msg["text"]), (bob.login, alice.login, "psst"))

    @needs_ours
    def test_send_to_user_destination_directly(self):
        name, queue = unique("carol"), unique("py.direct.")
        carol, sender = self.client(login=name), self.client()
        sub = carol.subscribe(f"/user/queue/{queue}")
        sender.send(f"/user/{name}/queue/{queue}", "direct")
        (m,) = carol.inbox.wait_messages(1, sub)
        self.assertEqual(m.body, "direct")


if __name__ == "__main__":
    # A hard bound on the whole run, whatever happens inside stomp.py's threads.
    watchdog = threading.Timer(120, lambda: (print("error: python client tests timed out", file=sys.stderr), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    result = unittest.main(exit=False, verbosity=2).result
    sys.stdout.flush()
    os._exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
