"""The same acl_file gives the same answers in Debian's mosquitto (2.0.11) and in Moth's Acl (issue 18).

One mosquitto runs per test class on a free loopback port with `allow_anonymous true`, a password file written by
mosquitto_passwd -b, and the ACL file below. For each (user, client id, topic, access) case the test asks mosquitto
by experiment and Moth through the acl_check helper ($ACL_CHECK, built from test/unit/auth/acl_check.cpp), and
asserts both equal the expected answer:

- write: the client publishes the topic at QoS 1 and waits for PUBACK (mosquitto routes or drops a message before
  acknowledging it); then a watcher with full rights, subscribed to the topic and to a marker topic, publishes a
  marker. Its messages arrive in order, so once the marker is in, the probe either arrived before it or never will.
- read: the client subscribes to the topic and to its marker topic; a publisher with full rights publishes the
  topic, then the marker. For "$SYS/broker/version" mosquitto's own retained message is the probe.

SUBSCRIBE is where the two differ on purpose: mosquitto grants every subscription, Moth refuses a filter that can
match nothing the client may read. Every wait has a deadline; no sleeps.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from pahoclient import V311, Client

HOST = "127.0.0.1"
DEADLINE_S = 30

ACL = """# anonymous section: clients without a username
topic read public/#
topic deny public/secret
topic readwrite anon/rw
topic read marker/#

user alice
topic readwrite alice/#
topic deny alice/private/#
topic write drop/box
topic readwrite room 101/#
topic read $SYS/broker/#
topic readwrite students/#
topic read marker/#

user bob
topic read alice/#
topic readwrite bob/#
topic read +/broker/version
topic read marker/#

user dave
topic readwrite #

user admin
topic readwrite #
topic readwrite $SYS/#

pattern readwrite students/%u/#
pattern deny students/%u/locked
pattern read devices/%c/cmd
pattern write devices/%c/state
pattern read tag/%c-%u
pattern write open/all
pattern read marker/%c
"""

USERS = ("alice", "bob", "carol", "dave", "admin", "bo/b")

# (username or None for anonymous, client id, topic, expected: True = allowed)
WRITES = [
    (None, "a1", "anon/rw", True),
    (None, "a1", "public/news", False),
    ("alice", "c-alice", "alice/x/y", True),
    ("alice", "c-alice", "alice/private/x", False),
    ("alice", "c-alice", "alice/private", False),
    ("alice", "c-alice", "drop/box", True),
    ("alice", "c-alice", "room 101/a", True),
    ("alice", "c-alice", "$SYS/broker/version", False),
    ("admin", "c-admin", "$SYS/broker/connection/b1/state", True),
    ("admin", "c-admin", "$SYS/test", False),
    ("dave", "c-dave", "anything/at/all", True),
    ("bob", "c-bob", "bob/x", True),
    ("bob", "c-bob", "alice/x", False),
    ("carol", "c-carol", "students/carol/hw1", True),
    ("carol", "c-carol", "students/bob/hw1", False),
    ("carol", "c-carol", "students/carol/locked", False),
    ("alice", "c-alice", "students/alice/locked", True),
    (None, "a1", "students/%u/x", False),
    (None, "dev42", "devices/dev42/state", True),
    (None, "dev42", "devices/dev42/cmd", False),
    (None, "dev/7", "devices/dev/7/state", True),
    ("bo/b", "c-bob2", "students/bo/b/1", True),
    (None, "a1", "open/all", True),
    (None, "dev+1", "open/all", False),
    (None, "dev+1", "anon/rw", True),
    ("bob", "evil#", "bob/x", True),
    ("bob", "evil#", "students/bob/x", False),
]

READS = [
    (None, "a1", "public/news", True),
    (None, "a1", "public/secret", False),
    (None, "a1", "public/secret/x", True),
    ("carol", "c-carol", "public/news", False),
    ("alice", "c-alice", "drop/box", False),
    ("alice", "c-alice", "alice/private/x", False),
    ("alice", "c-alice", "room 101/b", True),
    ("bob", "c-bob", "alice/x", True),
    ("bob", "c-bob", "alice/private/x", True),
    ("alice", "c-alice", "$SYS/broker/version", True),
    ("bob", "c-bob", "$SYS/broker/version", False),
    ("bob", "c-bob", "x/broker/version", True),
    ("dave", "c-dave", "$SYS/broker/version", False),
    (None, "dev42", "devices/dev42/cmd", True),
    (None, "dev42", "devices/dev43/cmd", False),
    ("carol", "k9", "tag/k9-carol", True),
    ("carol", "k9", "tag/k9-caro", False),
    ("carol", "c-carol", "students/carol", True),
    ("bob", "evil#", "alice/x", True),
]

# (username, client id, filter, Moth's may_subscribe); mosquitto grants every one of them.
SUBSCRIBES = [
    ("bob", "c-bob", "secret/x", False),
    ("bob", "c-bob", "secret/#", True),  # secret/broker/version, through "+/broker/version"
    ("alice", "c-alice", "alice/private/#", False),
    (None, "a1", "alice/#", False),
    ("alice", "c-alice", "#", True),
    ("carol", "c-carol", "students/+/hw", True),
]


def acl_check_path():
    path = os.environ.get("ACL_CHECK", "")
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest("set ACL_CHECK to the acl_check binary (CTest does)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def password(user):
    return f"pw-{user}"


class Mosquitto:
    """Debian's mosquitto with the password file and ACL above, on a free loopback port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moth-acl-")
        self.port = free_port()
        self.acl = os.path.join(self.dir, "acl")
        with open(self.acl, "w") as f:
            f.write(ACL)
        passwd = os.path.join(self.dir, "passwd")
        for i, user in enumerate(USERS):
            flags = ["-c", "-b"] if i == 0 else ["-b"]
            subprocess.run(["mosquitto_passwd", *flags, passwd, user, password(user)], check=True,
                           capture_output=True, timeout=DEADLINE_S)
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            # As root mosquitto would switch to the "mosquitto" user, who cannot read our private directory.
            f.write(f"listener {self.port} {HOST}\nallow_anonymous true\npassword_file {passwd}\nacl_file {self.acl}\n"
                    f"persistence false\nuser {pwd.getpwuid(os.geteuid()).pw_name}\n")
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "wb")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {self.log_text()}")
                time.sleep(0.02)  # polling a port that is not open yet; no state is assumed from the delay

    def log_text(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=DEADLINE_S)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class AclMosquittoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.acl_check = acl_check_path()
        cls.broker = Mosquitto()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def moth(self, user, client_id, topic, access):
        p = subprocess.run([self.acl_check, self.broker.acl, user or "-", client_id, topic, access],
                           capture_output=True, text=True, timeout=DEADLINE_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        return {"allow\n": True, "deny\n": False}[p.stdout]

    def client(self, user, client_id):
        c = Client(self.broker.port, V311, client_id)
        self.addCleanup(c.stop)
        if user is not None:
            c.c.username_pw_set(user, password(user))
        c.connect()
        return c

    def admin(self):
        return self.client("admin", f"admin-{uuid.uuid4().hex[:8]}")

    def mosquitto_write(self, user, client_id, topic):
        token = uuid.uuid4().hex.encode()
        watcher = self.admin()
        marker = f"marker/{watcher.client_id}"
        watcher.subscribe(topic, qos=1)
        watcher.subscribe(marker, qos=1)
        writer = self.client(user, client_id)
        writer.publish(topic, token, qos=1)
        watcher.publish(marker, b"marker-" + token, qos=1)
        seen = watcher.wait_payload(b"marker-" + token)
        writer.disconnect()
        watcher.disconnect()
        return any(m.topic == topic and m.payload == token for m in seen)

    def mosquitto_read(self, user, client_id, topic):
        token = uuid.uuid4().hex.encode()
        reader = self.client(user, client_id)
        # The client id names the marker (pattern read marker/%c) unless it cannot be in a topic.
        marker = f"marker/{client_id}" if not set("+#") & set(client_id) else f"marker/{uuid.uuid4().hex}"
        reader.subscribe(topic, qos=1)
        reader.subscribe(marker, qos=1)
        publisher = self.admin()
        publisher.publish(topic, token, qos=1)  # refused for $SYS: there mosquitto's retained message is the probe
        publisher.publish(marker, b"marker-" + token, qos=1)
        seen = reader.wait_payload(b"marker-" + token)
        reader.disconnect()
        publisher.disconnect()
        return any(m.topic == topic for m in seen)

    def test_publish_decisions_agree(self):
        for user, client_id, topic, expected in WRITES:
            with self.subTest(user=user, client_id=client_id, topic=topic):
                self.assertEqual(self.mosquitto_write(user, client_id, topic), expected, "mosquitto")
                self.assertEqual(self.moth(user, client_id, topic, "write"), expected, "moth")

    def test_delivery_decisions_agree(self):
        for user, client_id, topic, expected in READS:
            with self.subTest(user=user, client_id=client_id, topic=topic):
                self.assertEqual(self.mosquitto_read(user, client_id, topic), expected, "mosquitto")
                self.assertEqual(self.moth(user, client_id, topic, "read"), expected, "moth")

    def test_subscribe_is_checked_only_by_moth(self):
        for user, client_id, topic_filter, moth_allows in SUBSCRIBES:
            with self.subTest(user=user, client_id=client_id, filter=topic_filter):
                c = self.client(user, client_id)
                self.assertEqual(c.subscribe(topic_filter, qos=1), [1], "mosquitto grants every SUBSCRIBE")
                c.disconnect()
                self.assertEqual(self.moth(user, client_id, topic_filter, "subscribe"), moth_allows)


if __name__ == "__main__":
    unittest.main()
