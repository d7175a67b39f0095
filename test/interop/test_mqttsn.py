"""The MQTT-SN 1.2 gateway inside mothd (issue 22) end to end: `moth sn pub/sub` against mosquitto_pub/sub through
a real mothd, over UDP, DTLS and IPv6, with loss injected by a relay, sleeping clients, wills, malformed datagrams,
client id and address limits, and the ACL. Section numbers are those of the MQTT-SN 1.2 specification.
Helpers in sntest.py; every wait is bounded.
"""

import os
import shutil
import socket
import tempfile
import unittest

from broker import HOST, take_mothd_from_argv
from listenertest import make_ca
from sntest import (CONNACK, DISCONNECT, GWINFO, PINGREQ, PINGRESP, PUBLISH, SEARCHGW, TOPIC_NORMAL, WAIT_S, Relay,
                    SnTestCase, connect_datagram, datagram, msg_type, publish_datagram, sn_listener, unique)

V311 = "mqttv311"
LOSSY = "[mqttsn]\nretry_interval_ms = 200\nmax_retries = 10\n"


class PublishTest(SnTestCase):
    def test_6_6_pub_qos_0_1_2_registered_and_minus_one_reach_mosquitto_sub(self):
        """6.5 REGISTER + 6.6 PUBLISH at QoS 0, 1, 2; QoS -1 (6.8) with a predefined id and a short topic (6.7)."""
        self.start('[mqttsn.predefined]\n1 = "sn/predefined"\n')
        base = unique("sn/")
        sub = self.mosq.sub(V311, [base + "/#", "sn/predefined", "ab"], "-q", "2")
        for q in (0, 1, 2):
            self.sn_pub("-t", f"{base}/q{q}", "-m", f"payload {q}", "-q", str(q))
        self.sn_pub("--predefined", "1", "-m", "via predefined id", "-q", "-1")
        self.sn_pub("--short", "ab", "-m", "via short topic", "-q", "-1")
        got = {(r.topic, r.payload, r.qos) for r in sub.wait_records(5)}
        self.assertEqual(got, {(f"{base}/q0", "payload 0", "0"), (f"{base}/q1", "payload 1", "1"),
                               (f"{base}/q2", "payload 2", "2"), ("sn/predefined", "via predefined id", "0"),
                               ("ab", "via short topic", "0")})
        self.assertEqual(self.metric("moth_mqttsn_qos_minus_one_total"), 2)


class SubscribeTest(SnTestCase):
    def test_6_9_sub_wildcard_registered_by_gateway_and_retained(self):
        """6.9 SUBSCRIBE with a wildcard: the gateway REGISTERs each topic before PUBLISH (6.10); QoS 1 and 2; a
        retained message is delivered on SUBSCRIBE."""
        self.start()
        base = unique("sn/")
        self.mosq.pub(V311, "-t", f"{base}/kept", "-m", "retained one", "-r", "-q", "1")
        sub = self.sn_sub("-i", "sn-wild", "-t", base + "/#", "-q", "2", "-v", "-C", "3")
        self.wait_subscribed("sn-wild", sub)
        self.mosq.pub(V311, "-t", f"{base}/a", "-m", "at qos 1", "-q", "1")
        self.mosq.pub(V311, "-t", f"{base}/b/c", "-m", "at qos 2", "-q", "2")
        self.assertEqual(sub.wait_exit(), 0, sub.describe())
        self.assertEqual(sub.lines(), [f"{base}/kept retained one", f"{base}/a at qos 1", f"{base}/b/c at qos 2"])

    def test_6_9_sub_short_topic_and_predefined_id(self):
        """6.7: short topic names and predefined topic ids need no REGISTER either way."""
        self.start('[mqttsn.predefined]\n7 = "sn/seven"\n')
        short = self.sn_sub("-i", "sn-short", "--short", "xy", "-q", "1", "-v", "-C", "1")
        pre = self.sn_sub("-i", "sn-pre", "--predefined", "7", "-q", "2", "-v", "-C", "1")
        self.wait_subscribed("sn-short", short)
        self.wait_subscribed("sn-pre", pre)
        self.mosq.pub(V311, "-t", "xy", "-m", "short one", "-q", "1")
        self.mosq.pub(V311, "-t", "sn/seven", "-m", "predefined one", "-q", "2")
        self.assertEqual(short.wait_exit(), 0, short.describe())
        self.assertEqual(pre.wait_exit(), 0, pre.describe())
        self.assertEqual(short.lines(), ["xy short one"])
        self.assertEqual(pre.lines(), ["7 predefined one"])


class SleepTest(SnTestCase):
    def test_6_14_sleeping_client_gets_messages_on_wake_up_in_order(self):
        """6.14: a client asleep (DISCONNECT with Duration) gets what was published meanwhile only after a PINGREQ
        with its client id, then PINGRESP; QoS 0 and 1, in order. A watching relay (no loss) shows the exchange."""
        self.start()
        relay = Relay(self.sn_port())
        self.addCleanup(relay.close)
        topic = unique("sn/sleep/")
        sub = self.sn_sub("-i", "sleeper", "-t", topic, "-q", "1", "--sleep", "20", "--wake-every-ms", "1500",
                          "-C", "4", port=relay.port)

        def asleep():  # the client's DISCONNECT with a Duration (Length 4), answered by DISCONNECT
            log = relay.snapshot()
            i = next((i for i, (d, b) in enumerate(log) if d == "up" and msg_type(b) == DISCONNECT and len(b) == 4),
                     None)
            return i is not None and any(d == "down" and msg_type(b) == DISCONNECT for d, b in log[i:])
        self.wait_until(asleep, WAIT_S, "the sleeper's DISCONNECT(duration) answered")
        for i, q in enumerate((0, 1, 0, 1)):
            self.mosq.pub(V311, "-t", topic, "-m", f"m{i}", "-q", str(q))
        self.assertEqual(sub.wait_exit(), 0, sub.describe())
        self.assertEqual(sub.lines(), ["m0", "m1", "m2", "m3"])
        # Nothing is sent to the client while it sleeps: every PUBLISH to it lies between its PINGREQ and the
        # gateway's PINGRESP.
        log = relay.snapshot()
        start = next(i for i, (d, b) in enumerate(log) if d == "up" and msg_type(b) == DISCONNECT)
        awake = False
        for d, b in log[start:]:
            t = msg_type(b)
            if d == "up" and t == PINGREQ:
                awake = True
            elif d == "down" and t == PINGRESP:
                awake = False
            elif d == "down" and t == PUBLISH:
                self.assertTrue(awake, f"PUBLISH sent to a sleeping client: {[(x, y.hex()) for x, y in log]}")


class WillTest(SnTestCase):
    def test_6_3_will_of_a_lost_client_is_published(self):
        """6.3/6.4: a will given in the WILLTOPIC/WILLMSG exchange is published when the client is lost (killed;
        keep alive 1 s, lost after 1.5 x keep alive)."""
        self.start()
        will = unique("sn/will/")
        watcher = self.mosq.sub(V311, [will])
        sub = self.sn_sub("-i", "sn-mortal", "-k", "1", "--will-topic", will, "--will-payload", "lost it",
                          "-t", unique("sn/x/"))
        self.wait_subscribed("sn-mortal", sub)
        sub.kill()
        self.assertEqual([r.payload for r in watcher.wait_payload("lost it")], ["lost it"])

    def test_6_3_no_will_after_disconnect(self):
        """A clean DISCONNECT (6.12) discards the will: a marker published afterwards is the first message."""
        self.start()
        will = unique("sn/will/")
        watcher = self.mosq.sub(V311, [will])
        sub = self.sn_sub("-i", "sn-polite", "-k", "1", "--will-topic", will, "--will-payload", "sub will",
                          "-t", unique("sn/x/"))
        self.wait_subscribed("sn-polite", sub)
        self.assertEqual(sub.terminate(), 0, sub.describe())
        self.sn_pub("-i", "sn-polite-pub", "-k", "1", "--will-topic", will, "--will-payload", "pub will",
                    "-t", unique("sn/x/"), "-m", "x")
        self.wait_until(lambda: self.client_info("sn-polite") is None and self.client_info("sn-polite-pub") is None,
                        WAIT_S, "both sessions gone")
        self.mosq.pub(V311, "-t", will, "-m", "marker")
        self.assertEqual([r.payload for r in watcher.wait_payload("marker")], ["marker"])


class LossTest(SnTestCase):
    """6.13 retransmission (Tretry/Nretry) both ways through a relay that drops 20 % of datagrams each way."""

    def lossy_relay(self):
        relay = Relay(self.sn_port(), loss=0.2, seed=22)
        self.addCleanup(relay.close)
        return relay

    def check_dropped(self, relay):
        self.assertGreater(relay.dropped["up"], 0, relay.dropped)
        self.assertGreater(relay.dropped["down"], 0, relay.dropped)

    def publish_through_loss(self, qos):
        self.start(LOSSY)
        relay = self.lossy_relay()
        topic = unique("sn/lossy/")
        sub = self.mosq.sub(V311, [topic], "-q", "2")
        p = self.sn_pub("-t", topic, "-m", "lossy", "-q", str(qos), "--count", "50", "--retry-ms", "200",
                        "--retries", "20", port=relay.port, timeout=120, expect_rc=None)
        self.assertEqual(p.returncode, 0, f"moth sn pub: {p.stderr!r}\n{relay.describe()}")
        self.mosq.pub(V311, "-t", topic, "-m", "marker", "-q", "1")
        before_marker = [r.payload for r in sub.wait_payload("marker")][:-1]
        self.check_dropped(relay)
        return before_marker

    def test_6_13_pub_qos_1_through_loss_at_least_once(self):
        got = self.publish_through_loss(1)
        self.assertGreaterEqual(len(got), 50)
        self.assertEqual(set(got), {"lossy"})

    def test_6_13_pub_qos_2_through_loss_exactly_once(self):
        self.assertEqual(self.publish_through_loss(2), ["lossy"] * 50)

    def test_6_13_sub_qos_1_through_loss_gateway_retransmits(self):
        self.start(LOSSY)
        relay = self.lossy_relay()
        topic = unique("sn/lossy/")
        sub = self.sn_sub("-i", "sn-lossy-sub", "-t", topic, "-q", "1", "--retry-ms", "200", "--retries", "20",
                          port=relay.port)
        self.wait_subscribed("sn-lossy-sub", sub, timeout=40)
        # Not -C 50: a QoS 1 message whose PUBACK was lost is sent again and may print twice (at least once).
        want = [str(i) for i in range(50)]
        self.mosq.pub(V311, "-t", topic, "-q", "1", "-l", stdin="".join(w + "\n" for w in want))
        self.wait_until(lambda: set(sub.lines()) >= set(want) or sub.proc.poll() is not None, 90,
                        "all 50 messages at the subscriber")
        self.assertEqual(sorted(set(sub.lines()), key=int), want, sub.describe())
        self.check_dropped(relay)


class DtlsTest(SnTestCase):
    def test_dtls_pub_and_sub_both_ways_and_wrong_ca_fails(self):
        self.start(listeners=sn_listener() + sn_listener("sns", "mqttsns"))
        ca = os.path.join(self.broker.data_dir(), "tls", "moth-dev-ca.pem")
        self.assertTrue(os.path.exists(ca), ca)
        dtls = ("--dtls", "--cafile", ca)
        topic = unique("sn/dtls/")
        watcher = self.mosq.sub(V311, [topic + "/#"])
        self.sn_pub(*dtls, "-t", topic + "/up", "-m", "sealed", "-q", "1", listener="sns")
        self.assertEqual(watcher.wait_payload("sealed")[-1].topic, topic + "/up")
        sub = self.sn_sub(*dtls, "-i", "sn-dtls", "-t", topic + "/down", "-q", "2", "-C", "1", listener="sns")
        self.wait_subscribed("sn-dtls", sub)
        self.mosq.pub(V311, "-t", topic + "/down", "-m", "unsealed", "-q", "2")
        self.assertEqual(sub.wait_exit(), 0, sub.describe())
        self.assertEqual(sub.lines(), ["unsealed"])
        other = tempfile.mkdtemp(prefix="moth-otherca-")
        self.addCleanup(shutil.rmtree, other, True)
        make_ca(other)
        p = self.sn_pub("--dtls", "--cafile", os.path.join(other, "ca.pem"), "-t", topic, "-m", "no",
                        "--retries", "2", "--retry-ms", "200", listener="sns", expect_rc=1)
        self.assertIn("moth sn:", p.stderr)


class MalformedTest(SnTestCase):
    BAD = (b"hello, gateway",  # garbage: Length 0x68 does not match
           bytes([7, PUBLISH, 0x20]),  # Length says 7, 3 bytes came
           datagram(PUBLISH, b"\x20\x00"),  # a PUBLISH truncated after its topic id's first byte
           datagram(0x30, b"\x00\x00"))  # an unknown (reserved) message type

    def test_5_malformed_datagrams_dropped_unanswered_and_counted(self):
        """5.2: messages that do not parse are dropped without an answer and counted; the gateway serves on."""
        self.start()
        s = self.udp()
        gw = (HOST, self.sn_port())
        for bad in self.BAD:
            s.sendto(bad, gw)
        s.sendto(datagram(SEARCHGW, b"\x01"), gw)  # 6.1: answered with GWINFO, after (in order) the bad ones
        reply, _ = s.recvfrom(65536)
        self.assertEqual(msg_type(reply), GWINFO, f"first answer {reply.hex()}: the bad datagrams got one")
        self.wait_until(lambda: self.metric("moth_mqttsn_malformed_total") >= len(self.BAD), WAIT_S,
                        "malformed datagrams counted")
        self.assertEqual(self.metric("moth_mqttsn_malformed_total"), len(self.BAD))
        topic = unique("sn/after/")
        watcher = self.mosq.sub(V311, [topic])
        self.sn_pub("-t", topic, "-m", "still serving", "-q", "1")
        watcher.wait_payload("still serving")

    def test_publish_from_unconnected_address_gets_disconnect(self):
        """A QoS 1 PUBLISH from an address without a session is answered with DISCONNECT."""
        self.start()
        s = self.udp()
        s.sendto(publish_datagram(1, 1, b"who am i", qos=1, topic_type=TOPIC_NORMAL), (HOST, self.sn_port()))
        reply, _ = s.recvfrom(65536)
        self.assertEqual(msg_type(reply), DISCONNECT, reply.hex())

    def test_6_13_resent_disconnect_is_answered_again(self):
        """6.12/6.13: a client whose DISCONNECT's answer was lost sends it again (Tretry); the gateway must answer that
        copy too, or the client cannot tell a finished session from a dead gateway."""
        self.start()
        s = self.udp()
        gw = (HOST, self.sn_port())
        s.sendto(connect_datagram("sn-raw"), gw)
        connack, _ = s.recvfrom(65536)
        self.assertEqual((msg_type(connack), connack[-1]), (CONNACK, 0), connack.hex())
        s.sendto(datagram(DISCONNECT), gw)
        reply, _ = s.recvfrom(65536)
        self.assertEqual(msg_type(reply), DISCONNECT, reply.hex())
        s.sendto(datagram(DISCONNECT), gw)  # as if the answer above had been lost
        s.settimeout(5)
        try:
            reply, _ = s.recvfrom(65536)
        except socket.timeout:
            self.fail("the resent DISCONNECT got no answer within 5 s")
        self.assertEqual(msg_type(reply), DISCONNECT, reply.hex())


class IdentityTest(SnTestCase):
    def test_client_ids_and_listener_max_connections(self):
        """[mqttsn] client_ids refuses other ids at CONNACK; max_connections = 1 refuses a second client with
        Congestion (5.3.10)."""
        self.start("[mqttsn]\nclient_ids = [\"sensor-*\"]\n", sn_listener(extra="max_connections = 1\n"))
        topic = unique("sn/id/")
        p = self.sn_pub("-i", "other", "-t", topic, "-m", "x", expect_rc=1)
        self.assertIn("CONNECT rejected", p.stderr)
        self.sn_pub("-i", "sensor-1", "-t", topic, "-m", "x")
        holder = self.sn_sub("-i", "sensor-holder", "-t", topic)
        self.wait_subscribed("sensor-holder", holder)
        p = self.sn_pub("-i", "sensor-2", "-t", topic, "-m", "x", expect_rc=1)
        self.assertIn("congestion", p.stderr.lower())

    def test_allow_addresses_drops_others_unanswered(self):
        self.start('[mqttsn]\nallow_addresses = ["10.0.0.0/8"]\n')
        p = self.sn_pub("-t", "sn/x", "-m", "x", "--retries", "2", "--retry-ms", "200", expect_rc=1)
        self.assertIn("no CONNACK", p.stderr)


class SessionTest(SnTestCase):
    def test_sn_session_is_listed_and_acl_applies_to_its_username(self):
        """The gateway's sessions are ordinary sessions: listed by the API with transport "mqttsn", and the ACL
        applies to [mqttsn] username (a denied PUBLISH is answered with PUBACK "rejected", 5.4.13)."""
        files = tempfile.mkdtemp(prefix="moth-snacl-")
        self.addCleanup(shutil.rmtree, files, True)
        with open(os.path.join(files, "acl"), "w", encoding="utf-8") as f:
            f.write("user devices\ntopic readwrite allowed/#\n")
        self.start(f'[auth]\nallow_anonymous = false\nacl_file = "{files}/acl"\n[mqttsn]\nusername = "devices"\n',
                   anonymous=None)
        sub = self.sn_sub("-i", "sn-listed", "-t", "allowed/#", "-q", "1", "-v")
        info = self.wait_subscribed("sn-listed", sub)
        self.assertEqual(info["transport"], "mqttsn", info)
        self.sn_pub("-t", "allowed/x", "-m", "fine", "-q", "1")
        self.assertEqual(sub.wait_lines(1), ["allowed/x fine"])
        p = self.sn_pub("-t", "denied/x", "-m", "nope", "-q", "1", expect_rc=1)
        self.assertIn("PUBLISH rejected", p.stderr)
        # The API names the session's user name, as it does for a client that sent one.
        self.assertEqual(self.client_info("sn-listed")["username"], "devices")


class Ipv6Test(SnTestCase):
    def test_ipv6_listener(self):
        try:
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        except OSError:
            self.skipTest("no IPv6")
        self.start(listeners=sn_listener("sn6", bind="::1"))
        self.assertEqual(self.broker.ports["sn6"][:2], ("mqttsn", "::1"))
        topic = unique("sn/v6/")
        watcher = self.mosq.sub(V311, [topic])
        self.sn_pub("-t", topic, "-m", "over ipv6", "-q", "1", host="::1", listener="sn6")
        watcher.wait_payload("over ipv6")


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
