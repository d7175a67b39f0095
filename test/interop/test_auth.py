"""Passwords and ACLs against the real mothd (issue 18), with real clients: a password file written by Debian's
mosquitto_passwd (and an argon2id entry by `moth passwd`), an ACL file in Mosquitto's format, mosquitto_pub/sub with
-u/-P, python3-paho-mqtt, and raw packets for the denial codes of MQTT 3.1, 3.1.1 and 5.0. Every wait is bounded.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

import paho.mqtt.client as mqtt

from broker import HOST, Broker, BrokerTestCase
from listenertest import WAIT_S, unique
from rawmqtt import connect_packet, publish_packet, read_one, subscribe_packet

ACL = """# anonymous clients: public topics only
topic read public/#

user alice
topic readwrite home/#
topic read $SYS/#

user bob
topic read home/#

pattern readwrite students/%u/#
"""


def moth_path():
    return os.environ.get("MOTH") or os.path.join(os.path.dirname(os.environ["MOTHD"]), "..", "moth", "moth")


class AuthBroker(Broker):
    def __init__(self, files):
        super().__init__(extra_toml=f'[auth]\npassword_file = "{files}/passwd"\nacl_file = "{files}/acl"\n',
                         anonymous=None)


class AuthTestCase(BrokerTestCase):
    def setUp(self):
        unittest.TestCase.setUp(self)
        self.files = tempfile.mkdtemp(prefix="moth-auth-")
        self.addCleanup(shutil.rmtree, self.files, ignore_errors=True)
        passwd = os.path.join(self.files, "passwd")
        # Debian's mosquitto_passwd writes $7$ (PBKDF2-SHA512) entries: mothd reads them unchanged.
        subprocess.run(["mosquitto_passwd", "-c", "-b", passwd, "alice", "alice-pw"], check=True, timeout=WAIT_S)
        subprocess.run(["mosquitto_passwd", "-b", passwd, "bob", "bob-pw"], check=True, timeout=WAIT_S)
        # moth passwd adds an argon2id entry to the same file.
        subprocess.run([moth_path(), "passwd", "-b", passwd, "carol", "carol-pw"], check=True, timeout=WAIT_S)
        with open(os.path.join(self.files, "acl"), "w", encoding="utf-8") as f:
            f.write(ACL)
        self.broker = AuthBroker(self.files)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def paho(self, user=None, password=None, protocol=mqtt.MQTTv311):
        """A connected paho client (loop running) and the CONNACK's rc."""
        c = mqtt.Client(client_id=unique("paho"), protocol=protocol)
        if user is not None:
            c.username_pw_set(user, password)
        done = threading.Event()
        got = {}

        def on_connect(client, userdata, flags, rc, properties=None):
            got["rc"] = rc
            done.set()

        c.on_connect = on_connect
        c.connect(HOST, self.port, keepalive=30)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        self.addCleanup(c.disconnect)
        self.assertTrue(done.wait(WAIT_S), "no CONNACK")
        return c, got["rc"]

    def raw(self, version, user=None, password=None):
        s = socket.create_connection((HOST, self.port), timeout=WAIT_S)
        self.addCleanup(s.close)
        s.sendall(connect_packet(unique("raw"), version=version, username=user, password=password))
        return s, self.read_packet(s)

    def read_packet(self, s):
        return read_one(s)


class PasswordTest(AuthTestCase):
    def test_mosquitto_clients_with_a_mosquitto_passwd_file(self):
        # Retained first, so the subscriber gets it whenever its SUBSCRIBE lands.
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-u", "alice", "-P", "alice-pw",
                        "-t", "home/lamp", "-m", "on", "-q", "1", "-r"], check=True, timeout=WAIT_S)
        sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", HOST, "-p", str(self.port), "-u", "alice",
                                "-P", "alice-pw", "-t", "home/#", "-C", "1", "-v", "-W", str(int(WAIT_S))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(sub.kill)
        out, err = sub.communicate(timeout=WAIT_S * 2)
        self.assertEqual(sub.returncode, 0, err)
        self.assertEqual(out.strip(), "home/lamp on")

    def test_wrong_password_and_anonymous_are_refused(self):
        bad = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-u", "alice", "-P", "nope",
                              "-t", "home/x", "-m", "x"], capture_output=True, text=True, timeout=WAIT_S)
        self.assertNotEqual(bad.returncode, 0)
        self.assertRegex(bad.stderr + bad.stdout, r"(?i)bad user name or password|not authori[sz]ed")
        anon = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-t", "public/x", "-m", "x"],
                              capture_output=True, text=True, timeout=WAIT_S)
        self.assertNotEqual(anon.returncode, 0, "a config file refuses anonymous clients unless it says otherwise")

    def test_argon2id_entry_from_moth_passwd(self):
        _, rc = self.paho("carol", "carol-pw")
        self.assertEqual(rc, 0)

    def test_connack_codes_per_version(self):
        # 3.1 and 3.1.1: return code 4 for a bad password; 5.0: 0x86.
        for version, expected in ((3, 4), (4, 4), (5, 0x86)):
            _, connack = self.raw(version, "alice", "wrong")
            self.assertEqual(connack[0] >> 4, 2)
            self.assertEqual(connack[3], expected, f"MQTT level {version}")
        for version, expected in ((4, 5), (5, 0x87)):  # anonymous: not authorized
            _, connack = self.raw(version)
            self.assertEqual(connack[3], expected, f"MQTT level {version}")


class AclTest(AuthTestCase):
    def subscribe_codes(self, version, user, password, topic):
        s, connack = self.raw(version, user, password)
        self.assertEqual(connack[3], 0)
        body = (b"\x00\x01" + (b"\x00" if version == 5 else b"") + len(topic).to_bytes(2, "big") + topic.encode() +
                b"\x01")
        s.sendall(bytes([0x82, len(body)]) + body)
        suback = self.read_packet(s)
        self.assertEqual(suback[0] >> 4, 9)
        return suback[-1]

    def test_subscribe_is_checked_per_version(self):
        # Unlike Mosquitto, a filter that can match nothing bob may read is refused.
        self.assertEqual(self.subscribe_codes(5, "bob", "bob-pw", "work/#"), 0x87)
        self.assertEqual(self.subscribe_codes(4, "bob", "bob-pw", "work/#"), 0x80)
        self.assertEqual(self.subscribe_codes(3, "bob", "bob-pw", "work/#"), 0x80)
        # "#" may match home/..., which bob may read: granted, and only what he may read is delivered.
        self.assertEqual(self.subscribe_codes(5, "bob", "bob-pw", "#"), 1)
        self.assertEqual(self.subscribe_codes(4, "bob", "bob-pw", "home/#"), 1)
        self.assertEqual(self.subscribe_codes(5, "carol", "carol-pw", "students/carol/#"), 1)
        self.assertEqual(self.subscribe_codes(5, "carol", "carol-pw", "students/alice/#"), 0x87)

    def test_denied_publish_per_version(self):
        s, _ = self.raw(5, "bob", "bob-pw")
        s.sendall(publish_packet("home/x", b"no", qos=1, packet_id=5, version=5))
        puback = self.read_packet(s)
        self.assertEqual((puback[0] >> 4, puback[4]), (4, 0x87))
        s3, _ = self.raw(4, "bob", "bob-pw")
        s3.sendall(publish_packet("home/x", b"no", qos=1, packet_id=6))
        puback = self.read_packet(s3)
        self.assertEqual(puback, b"\x40\x02\x00\x06", "3.1.1: acknowledged and dropped")

    def test_a_reader_gets_only_what_it_may_read_and_reload_revokes(self):
        received = []
        got = threading.Condition()
        c, rc = self.paho("bob", "bob-pw")
        self.assertEqual(rc, 0)

        def on_message(client, userdata, msg):
            with got:
                received.append(msg.topic)
                got.notify_all()

        c.on_message = on_message
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.subscribe("home/#", 1)
        self.assertTrue(subscribed.wait(WAIT_S))
        alice, _ = self.paho("alice", "alice-pw")
        alice.publish("home/one", b"1", qos=1).wait_for_publish(WAIT_S)
        with got:
            self.assertTrue(got.wait_for(lambda: "home/one" in received, WAIT_S))
        # bob may no longer read home/#: SIGHUP revokes the subscription.
        with open(os.path.join(self.files, "acl"), "w", encoding="utf-8") as f:
            f.write(ACL.replace("user bob\ntopic read home/#\n", "user bob\ntopic read other/#\n")
                    .replace("topic readwrite home/#\n", "topic readwrite home/#\ntopic readwrite other/#\n"))
        self.broker.proc.send_signal(signal.SIGHUP)
        self.wait_until(lambda: "revoked" in self.broker.log(), WAIT_S, "the revocation in the log")
        subscribed.clear()
        c.subscribe("other/#", 1)
        self.assertTrue(subscribed.wait(WAIT_S))
        # One publisher's messages arrive in order: the marker proves home/two was not delivered before it.
        alice.publish("home/two", b"2", qos=1).wait_for_publish(WAIT_S)
        alice.publish("other/marker", b"m", qos=1).wait_for_publish(WAIT_S)
        with got:
            self.assertTrue(got.wait_for(lambda: "other/marker" in received, WAIT_S))
        self.assertNotIn("home/two", received)


if __name__ == "__main__":
    unittest.main()
