"""The HTTP auth hook ([auth.http], issue 20) against the real mothd: a scripted hook server started by each test
(hookserver.py), python3-paho-mqtt 1.6.1 clients at MQTT 3.1.1 and 5.0, and raw packets where paho hides a reason
code (PUBACK). Allow, deny and ignore; what the request carries; superuser and ACL rules from the answer; a hook
that times out, fails or talks nonsense (on_error); the decision cache; the authorization hook (authorize_url).
Every wait is bounded; the hook's own delay is the slowness under test, never a synchronisation.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from broker import HOST, Broker, BrokerTestCase
from hookserver import ALLOW_204, DENY, IGNORE, Answer, HookServer, allow
from listenertest import listener_ports, unique
from pahoclient import V5, V311, ClientFactory
from rawmqtt import connect_packet, publish_packet, read_one

WAIT_S = 20
SLOW = Answer(200, {"result": "allow"}, delay_s=60)  # never in time: stop() cuts it short at teardown
TIMEOUT_MS = 5000  # the hook's timeout where a test waits for it: long enough to do work meanwhile on a slow CI box

# CONNACK codes. MQTT 5.0 3.2.2.2: 0x86 Bad User Name or Password, 0x88 Server unavailable; 3.1.1 3.2.2.3: 4 bad
# user name or password, 3 server unavailable.
BAD_CREDENTIALS = {V311: 4, V5: 0x86}
UNAVAILABLE = {V311: 3, V5: 0x88}
NOT_AUTHORIZED_SUB = {V311: 0x80, V5: 0x87}  # SUBACK: 3.1.1 Failure, 5.0 Not authorized


class HookTestCase(BrokerTestCase):
    """A test starts its own hook and mothd with start(); clients come from client() / connect() / raw()."""

    def setUp(self):
        unittest.TestCase.setUp(self)  # not BrokerTestCase's: each test starts mothd with its own [auth]
        self.files = tempfile.mkdtemp(prefix="moth-hook-")
        self.addCleanup(shutil.rmtree, self.files, ignore_errors=True)

    def start(self, hook, providers=("http",), on_error="deny", timeout_ms=TIMEOUT_MS, cache_ttl_s=0,
              authorize=False, acl=None, passwords=None, anonymous=False):
        """Starts `hook`, then mothd pointed at it. `acl`: acl_file text; `passwords`: {user: password} written by
        mosquitto_passwd (the "file" provider)."""
        hook.start()
        self.hook = hook
        self.addCleanup(hook.stop)  # registered before the broker's: runs after mothd has stopped
        auth = [f"allow_anonymous = {str(anonymous).lower()}",
                "providers = [" + ", ".join(f'"{p}"' for p in providers) + "]"]
        if passwords:
            path = os.path.join(self.files, "passwd")
            for i, (user, password) in enumerate(passwords.items()):
                subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", path, user, password],
                               check=True, timeout=WAIT_S)
            auth.append(f'password_file = "{path}"')
        if acl is not None:
            path = os.path.join(self.files, "acl")
            with open(path, "w", encoding="utf-8") as f:
                f.write(acl)
            auth.append(f'acl_file = "{path}"')
        http = [f'url = "{hook.url(HookServer.AUTH)}"', f"timeout_ms = {timeout_ms}",
                f"cache_ttl_s = {cache_ttl_s}", f'on_error = "{on_error}"']
        if authorize:
            http.append(f'authorize_url = "{hook.url(HookServer.ACL)}"')
        toml = "[auth]\n" + "\n".join(auth) + "\n\n[auth.http]\n" + "\n".join(http) + "\n"
        self.broker = Broker(extra_toml=toml, anonymous=None)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port
        self.clients = ClientFactory(self, self.port)

    def listener_name(self):
        return next(name for name, port in listener_ports(self.broker.dir).items() if port == self.port)

    # -- paho -------------------------------------------------------------------------------------------------
    def client(self, version, user=None, password=None, client_id=None):
        """A paho client, not connected. A refused client stays refused: paho must not reconnect (and ask the hook
        again) behind the test's back."""
        c = self.clients.client(version, client_id or unique("h"))
        c.c._reconnect_on_failure = False  # paho 1.6.1's Client(reconnect_on_failure=False), set after the fact
        if user is not None:
            c.c.username_pw_set(user, password)
        return c

    def connect(self, version, user=None, password=None, expect=0, client_id=None):
        c = self.client(version, user, password, client_id)
        c.connect(expect_rc=expect)
        return c

    def connect_async(self, version, user, password):
        """Sends CONNECT and returns at once; the CONNACK lands in c.connack."""
        c = self.client(version, user, password)
        if version == V5:
            c.c.connect(HOST, self.port, keepalive=30, clean_start=True)
        else:
            c.c.connect(HOST, self.port, keepalive=30)
        c.c.loop_start()
        c.started = True
        return c

    def assert_refused(self, version, user, password, expect):
        self.connect(version, user, password, expect=expect)

    # -- raw packets --------------------------------------------------------------------------------------------
    def raw(self, version, user, password, client_id=None):
        s = socket.create_connection((HOST, self.port), timeout=WAIT_S)
        self.addCleanup(s.close)
        s.sendall(connect_packet(client_id or unique("r"), version=version, username=user, password=password))
        connack = self.read_packet(s)
        self.assertEqual((connack[0], connack[3]), (0x20, 0), f"CONNACK for {user!r}")
        return s

    def read_packet(self, s):
        return read_one(s)

    def puback_code(self, s, topic, packet_id, version=5):
        """Publishes at QoS 1 and returns the PUBACK's reason code (5.0: absent means 0x00 Success)."""
        s.sendall(publish_packet(topic, b"from " + topic.encode(), qos=1, packet_id=packet_id, version=version))
        puback = self.read_packet(s)
        self.assertEqual((puback[0], puback[2:4]), (0x40, packet_id.to_bytes(2, "big")), puback)
        return puback[4] if len(puback) > 4 else 0

    def topics(self, c):
        with c.cond:
            return [m.topic for m in c.messages]


class AuthenticationTest(HookTestCase):
    def test_204_and_result_allow_let_clients_in(self):
        self.start(HookServer(auth={"plain": ALLOW_204, "json": allow()}))
        for version in (V311, V5):
            self.connect(version, "plain", "pw")
            self.connect(version, "json", "pw")
        self.assertEqual(len(self.hook.requests(HookServer.AUTH)), 4, "cache_ttl_s = 0: one request per CONNECT")

    def test_deny_is_bad_user_name_or_password(self):
        self.start(HookServer(auth_default=DENY))
        for version in (V311, V5):
            self.assert_refused(version, "mallory", "pw", BAD_CREDENTIALS[version])
        # Raw: 3.1.1 [MQTT-3.2.2-5] / 5.0 [MQTT-3.2.2-7]: after a refusing CONNACK the server closes the connection.
        for level, version in ((4, V311), (5, V5)):
            with socket.create_connection((HOST, self.port), timeout=WAIT_S) as s:
                s.sendall(connect_packet(unique("r"), version=level, username="mallory", password="pw"))
                connack = self.read_packet(s)
                self.assertEqual((connack[0], connack[3]), (0x20, BAD_CREDENTIALS[version]))
                self.assertEqual(s.recv(1), b"", "the connection stays open after a refusing CONNACK")
        self.assertEqual(len(self.hook.requests(HookServer.AUTH, username="mallory")), 4)

    def test_ignore_falls_through_to_the_password_file(self):
        self.start(HookServer(auth={"hooked": ALLOW_204}, auth_default=IGNORE), providers=("http", "file"),
                   passwords={"filed": "file-pw"})
        for version in (V311, V5):
            self.connect(version, "filed", "file-pw")
            self.connect(version, "hooked", "any")
            self.assert_refused(version, "filed", "wrong", BAD_CREDENTIALS[version])
            # Ignored by the hook, unknown to the file: no provider accepted it.
            self.assert_refused(version, "nobody", "pw", BAD_CREDENTIALS[version])
        # The hook was asked first every time, the file only after its "ignore".
        self.assertEqual(len(self.hook.requests(HookServer.AUTH, username="filed")), 4)

    def test_the_request_carries_the_connect(self):
        self.start(HookServer(auth_default=ALLOW_204))
        for version, protocol in ((V311, "3.1.1"), (V5, "5.0")):
            cid = unique(f"body{protocol}-")
            c = self.connect(version, f"user-{protocol}", f"pw-{protocol}-\u00e9", client_id=cid)
            peer = "%s:%d" % c.c.socket().getsockname()[:2]
            (body,) = self.hook.requests(HookServer.AUTH, client_id=cid)
            self.assertEqual(body, {"client_id": cid, "username": f"user-{protocol}",
                                    "password": f"pw-{protocol}-\u00e9", "peer": peer,
                                    "listener": self.listener_name(), "protocol": protocol, "cert_cn": None})


# Grants nobody the hook lets in anything: what they may do comes from the hook's answer, or nothing.
ACL_FOR_SOMEONE_ELSE = "user someone-else\ntopic readwrite elsewhere/#\n"


class GrantsTest(HookTestCase):
    def test_superuser_reads_and_writes_anywhere_and_the_acl_file_binds_the_rest(self):
        self.start(HookServer(auth={"root": allow(superuser=True), "plain": allow()}), acl=ACL_FOR_SOMEONE_ELSE)
        root = self.connect(V5, "root", "pw")
        self.assertEqual(root.subscribe("#", 1), [1])
        root.publish("any/where", b"root", qos=1)
        root.wait_payload(b"root")
        # Without superuser the acl_file applies, and it grants "plain" nothing.
        plain = self.connect(V5, "plain", "pw")
        self.assertEqual(plain.subscribe("any/#", 1), [0x87])
        s = self.raw(5, "plain", "pw")
        self.assertEqual(self.puback_code(s, "any/thing", 1), 0x87)
        root.publish("any/marker", b"marker", qos=1)
        root.wait_payload(b"marker")  # in order after plain's PUBLISH, had it been delivered
        self.assertNotIn("any/thing", self.topics(root))

    def test_acl_rules_from_the_answer(self):
        rules = {"pub": ["devices/%c/#"], "sub": ["cmd/%c"]}
        self.start(HookServer(auth={"dev": allow(acl=rules), "root": allow(superuser=True)}),
                   acl=ACL_FOR_SOMEONE_ELSE)
        root = self.connect(V5, "root", "pw")
        self.assertEqual(root.subscribe("devices/#", 1), [1])
        s = self.raw(5, "dev", "pw", client_id="dev1")
        self.assertEqual(self.puback_code(s, "devices/dev1/temp", 1), 0)
        self.assertEqual(self.puback_code(s, "devices/dev2/temp", 2), 0x87)  # another device's tree
        self.assertEqual(self.puback_code(s, "devices/dev1/marker", 3), 0)
        root.wait_payload(b"from devices/dev1/marker")
        self.assertEqual(self.topics(root), ["devices/dev1/temp", "devices/dev1/marker"])
        # Subscribing: its own cmd/<client id> only; at 3.1.1 a refusal is 0x80.
        dev5 = self.connect(V5, "dev", "pw", client_id="dev5")
        self.assertEqual(dev5.subscribe([("cmd/dev5", 1), ("cmd/dev1", 1)]), [1, NOT_AUTHORIZED_SUB[V5]])
        dev3 = self.connect(V311, "dev", "pw", client_id="dev3")
        self.assertEqual(dev3.subscribe("cmd/dev5", 1), [NOT_AUTHORIZED_SUB[V311]])
        root.publish("cmd/dev5", b"command", qos=1)
        self.assertEqual(dev5.wait_payload(b"command")[-1].topic, "cmd/dev5")
        self.assertEqual(len(self.hook.requests(HookServer.AUTH, username="dev")), 3, "cache_ttl_s = 0")


class FailureTest(HookTestCase):
    def slow_connects_while_others_are_served(self, versions, user, password):
        """CONNECTs `user` at each of `versions` to a hook that does not answer in time; while those wait, an
        anonymous client and a cached user ("fast") are served. Returns the waiting clients."""
        self.connect(V311, "fast", "pw")
        waiting = [self.connect_async(version, user, password) for version in versions]
        self.hook.wait_requests(HookServer.AUTH, len(versions), WAIT_S, username=user)
        started = time.monotonic()
        anon = self.connect(V5)
        self.assertEqual(anon.subscribe("alive/#", 1), [1])
        anon.publish("alive/check", b"alive", qos=1)
        anon.wait_payload(b"alive")
        self.connect(V5, "fast", "pw")  # V311 above, V5 here: the same user, but protocol is in the cache key
        self.connect(V311, "fast", "pw")  # from the cache
        took = time.monotonic() - started
        for c in waiting:
            with c.cond:
                self.assertIsNone(c.connack, f"the hook's timeout decided before the other clients were served "
                                             f"(took {took:.2f} s of {TIMEOUT_MS} ms): the test proves nothing")
        self.assertEqual(len(self.hook.requests(HookServer.AUTH, username="fast")), 2)
        return waiting

    def test_timeout_on_error_deny_is_server_unavailable_and_mothd_stays_responsive(self):
        self.start(HookServer(auth={"slow": SLOW, "fast": ALLOW_204}), cache_ttl_s=60, anonymous=True)
        waiting = self.slow_connects_while_others_are_served((V311, V5), "slow", "pw")
        for c in waiting:
            connack = c.wait(lambda c=c: c.connack, "CONNACK after the hook's timeout")
            self.assertEqual(connack[1], UNAVAILABLE[c.version])

    def test_timeout_on_error_next_asks_the_password_file(self):
        self.start(HookServer(auth={"slow": SLOW, "fast": ALLOW_204}), providers=("http", "file"),
                   on_error="next", cache_ttl_s=60, anonymous=True, passwords={"slow": "file-pw"})
        waiting = self.slow_connects_while_others_are_served((V311, V5), "slow", "file-pw")
        for c in waiting:
            self.assertEqual(c.wait(lambda c=c: c.connack, "CONNACK after the hook's timeout")[1], 0)
        # The file decides both ways: a wrong password after a timeout is refused.
        wrong = self.connect_async(V5, "slow", "wrong")
        self.assertEqual(wrong.wait(lambda: wrong.connack, "CONNACK")[1], BAD_CREDENTIALS[V5])

    BROKEN = {"e500": Answer(500, {"result": "allow"}), "garbage": Answer(200, '{"result": "allow"'),
              "noresult": Answer(200, {"allowed": True}), "unknown": Answer(200, {"result": "maybe"})}

    def test_errors_and_malformed_answers_with_on_error_deny(self):
        self.start(HookServer(auth=self.BROKEN), cache_ttl_s=60)
        for user in self.BROKEN:
            for version in (V311, V5):
                self.assert_refused(version, user, "pw", UNAVAILABLE[version])
        # Failures are never cached: the same CONNECT again asks again.
        self.assert_refused(V5, "e500", "pw", UNAVAILABLE[V5])
        self.assertEqual(len(self.hook.requests(HookServer.AUTH, username="e500")), 3)

    def test_errors_and_malformed_answers_with_on_error_next(self):
        self.start(HookServer(auth=dict(self.BROKEN, stranger=Answer(500))), providers=("http", "file"),
                   on_error="next", passwords={user: "file-pw" for user in self.BROKEN})
        for version in (V311, V5):
            for user in self.BROKEN:
                self.connect(version, user, "file-pw")
            self.assert_refused(version, "e500", "wrong", BAD_CREDENTIALS[version])
            self.assert_refused(version, "stranger", "pw", BAD_CREDENTIALS[version])


class CacheTest(HookTestCase):
    CONNECTS = 1000
    USERS = 5
    CONCURRENCY = 50

    def test_a_thousand_connects_ask_once_per_user(self):
        self.start(HookServer(auth_default=ALLOW_204), cache_ttl_s=60)
        codes = []
        lock = threading.Lock()
        deadline = time.monotonic() + 120

        def worker(w):
            for i in range(w, self.CONNECTS, self.CONCURRENCY):
                if time.monotonic() > deadline:
                    return
                with socket.create_connection((HOST, self.port), timeout=WAIT_S) as s:
                    s.sendall(connect_packet(unique("c"), username=f"user{i % self.USERS}", password="pw"))
                    connack = self.read_packet(s)
                    s.sendall(b"\xe0\x00")  # DISCONNECT
                with lock:
                    codes.append(connack[3] if connack[0] == 0x20 else ("not a CONNACK", connack))

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(self.CONCURRENCY)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic() + WAIT_S))
        took = time.monotonic() - started
        self.assertFalse(any(t.is_alive() for t in threads), "connects still running at the deadline")
        self.assertEqual(len(codes), self.CONNECTS, "not every CONNECT was answered within the deadline")
        self.assertEqual(codes, [0] * self.CONNECTS)
        sys.stderr.write(f"\n{self.CONNECTS} connects ({self.CONCURRENCY} at a time, {self.USERS} users) in "
                         f"{took:.2f} s: {self.CONNECTS / took:.0f} connects/s\n")
        asked = sorted(b["username"] for b in self.hook.requests(HookServer.AUTH))
        self.assertEqual(asked, [f"user{u}" for u in range(self.USERS)], "one request per distinct user")


class AuthorizeTest(HookTestCase):
    """authorize_url: asked at each PUBLISH and SUBSCRIBE the ACL allows (no acl_file here: all of them)."""

    HOOK = {"t/denied": DENY, "s/no": DENY}

    def test_publish_is_delivered_only_where_the_hook_allows(self):
        self.start(HookServer(auth_default=ALLOW_204, acl=self.HOOK), authorize=True)
        watcher = self.connect(V5, "watcher", "pw")
        self.assertEqual(watcher.subscribe("t/#", 1), [1])
        s = self.raw(5, "pub", "pw")
        self.assertEqual(self.puback_code(s, "t/denied", 1), 0x87)
        self.assertEqual(self.puback_code(s, "t/allowed", 2), 0)
        watcher.wait_payload(b"from t/allowed")
        self.assertEqual(self.topics(watcher), ["t/allowed"])
        self.assertEqual(len(self.hook.requests(HookServer.ACL, action="publish", topic="t/denied")), 1)

    def test_subscribe_with_an_allowed_and_a_denied_filter(self):
        self.start(HookServer(auth_default=ALLOW_204, acl=self.HOOK), authorize=True)
        for version in (V311, V5):
            c = self.connect(version, "sub", "pw")
            self.assertEqual(c.subscribe([("s/ok", 1), ("s/no", 1)]), [1, NOT_AUTHORIZED_SUB[version]])
        self.assertEqual(len(self.hook.requests(HookServer.ACL, action="subscribe", topic="s/no")), 2)

    def test_a_publish_waiting_for_a_slow_hook_holds_its_client_only(self):
        self.start(HookServer(auth_default=ALLOW_204, acl={"t/slow": SLOW}), authorize=True)
        watcher = self.connect(V5, "watcher", "pw")
        self.assertEqual(watcher.subscribe("t/#", 1), [1])
        s = self.raw(5, "pub", "pw")
        s.sendall(publish_packet("t/slow", b"slow", qos=1, packet_id=1, version=5) +
                  publish_packet("t/after", b"after", qos=1, packet_id=2, version=5))
        self.hook.wait_requests(HookServer.ACL, 1, WAIT_S, topic="t/slow")
        # Meanwhile another client publishes and is delivered to at once.
        other = self.connect(V5, "other", "pw")
        other.publish("t/other", b"other", qos=1)
        watcher.wait_payload(b"other")
        self.assertEqual(self.topics(watcher), ["t/other"], "t/after overtook the PUBLISH waiting for the hook")
        # The hook's timeout with on_error = "deny": 0x87; the next PUBLISH is handled after it, in order.
        puback = self.read_packet(s)
        self.assertEqual((puback[2:4], puback[4] if len(puback) > 4 else 0), (b"\x00\x01", 0x87))
        watcher.wait_payload(b"after")
        self.assertEqual(self.topics(watcher), ["t/other", "t/after"])

    def test_the_request_carries_action_topic_qos_retain(self):
        self.start(HookServer(auth_default=ALLOW_204, acl=self.HOOK), authorize=True)
        c = self.connect(V311, "asker", "pw", client_id="asker1")
        c.publish("t/body", b"x", qos=1, retain=True)
        self.assertEqual(c.subscribe("s/ok", 2), [2])
        common = {"client_id": "asker1", "username": "asker", "peer": "%s:%d" % c.c.socket().getsockname()[:2],
                  "listener": self.listener_name()}
        self.assertEqual(self.hook.requests(HookServer.ACL, topic="t/body"),
                         [dict(common, action="publish", topic="t/body", qos=1, retain=True)])
        self.assertEqual(self.hook.requests(HookServer.ACL, topic="s/ok"),
                         [dict(common, action="subscribe", topic="s/ok", qos=2, retain=False)])


if __name__ == "__main__":
    unittest.main()
