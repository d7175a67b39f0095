"""Debian's mosquitto_pub / mosquitto_sub 2.0.11 against mothd, with MQTT 3.1, 3.1.1 and 5.0.

Every test class below runs the same tests with one protocol version (`-V mqttv31`, `mqttv311`, `mqttv5`);
`MosquittoV5Only` adds what only MQTT 5 has (properties, topic aliases, message expiry).
"""

import time
import unittest

import broker
from broker import BrokerTestCase
from mosq import Session, unique


class MosquittoTests:
    """Mixed into one BrokerTestCase per protocol version."""

    version = None

    def setUp(self):
        super().setUp()
        self.m = Session(self, self.port)

    def pub(self, *args, **kw):
        return self.m.pub(self.version, *args, **kw)

    def sub(self, topics, *args, **kw):
        return self.m.sub(self.version, topics, *args, **kw)

    # -- QoS ---------------------------------------------------------------------------------------------------
    def test_qos_0_1_2_publish_subscribe(self):
        """For QoS 0, 1 and 2, messages published by mosquitto_pub reach a mosquitto_sub subscribed with the same
        QoS exactly once, in order, at that QoS, with retain 0; mosquitto_pub's exit status 0 shows the QoS 1/2
        handshake (PUBACK, PUBREC/PUBREL/PUBCOMP) completed."""
        for qos in (0, 1, 2):
            with self.subTest(qos=qos):
                topic = unique(f"qos{qos}/")
                s = self.sub([topic], "-q", str(qos))
                lines = [f"m{qos}-{i}" for i in range(5)] + ["end"]
                self.pub("-t", topic, "-q", str(qos), "-l", stdin="\n".join(lines) + "\n")
                recs = s.wait_payload("end")
                self.assertEqual([r.payload for r in recs], lines, s.describe())
                for r in recs:
                    self.assertEqual((r.topic, r.qos, r.retain), (topic, str(qos), "0"), r)

    def test_delivered_qos_is_minimum_of_publish_and_subscription(self):
        """A message is delivered at min(publish QoS, subscription QoS) (MQTT-3.8.4-6 / 5.0 section 3.8.4)."""
        for sub_qos, pub_qos in ((0, 2), (1, 2), (2, 1), (1, 0)):
            with self.subTest(sub_qos=sub_qos, pub_qos=pub_qos):
                topic = unique("minqos/")
                s = self.sub([topic], "-q", str(sub_qos))
                self.pub("-t", topic, "-q", str(pub_qos), "-m", "x")
                (r,) = s.wait_records(1)
                self.assertEqual((r.payload, r.qos), ("x", str(min(sub_qos, pub_qos))), r)

    # -- retained ----------------------------------------------------------------------------------------------
    def test_retained_message_late_subscriber_and_clear(self):
        """A retained message is stored and sent, with the retain flag set, to a subscriber that arrives later; a
        newer retained message replaces it; a live subscriber gets the stored one with retain 1 on subscribing and the
        new one with retain 0 (MQTT-3.3.1-9, 5.0 Retain As
        Published defaults to 0); `-r -n` (zero-length retained) clears it, so a later subscriber gets nothing."""
        topic = unique("ret/")
        self.pub("-t", topic, "-r", "-q", "1", "-m", "first")
        live = self.sub([topic], "-q", "1")
        self.pub("-t", topic, "-r", "-q", "1", "-m", "second")
        recs = live.wait_payload("second")
        self.assertEqual([(r.payload, r.retain) for r in recs], [("first", "1"), ("second", "0")], live.describe())

        late = self.sub([topic], "-q", "1", "-C", "1", probe=False)
        self.assertEqual(late.wait_exit(), 0, late.describe())
        (r,) = late.records()
        self.assertEqual((r.topic, r.payload, r.retain), (topic, "second", "1"), r)

        self.pub("-t", topic, "-r", "-q", "1", "-n")
        after = self.sub([topic], "-q", "1")  # ready: its SUBSCRIBE, and so any retained delivery, is done
        self.assertEqual(after.records(), [], "retained message still delivered after -r -n cleared it")

    # -- will --------------------------------------------------------------------------------------------------
    def test_will_published_when_client_killed(self):
        """A client killed with SIGKILL (no DISCONNECT) has its will message published to subscribers of the
        will topic, with the will's payload and QoS (MQTT-3.1.2-8, 5.0 section 3.1.2.5)."""
        will_topic = unique("will/")
        watcher = self.sub([will_topic], "-q", "1")
        victim = self.sub([unique("other/")], "--will-topic", will_topic, "--will-payload", "gone", "--will-qos",
                          "1", "-i", unique("w"))
        self.assertEqual(watcher.records(), [], "will published while its client was still connected")
        victim.kill()
        (r,) = watcher.wait_records(1)
        self.assertEqual((r.topic, r.payload, r.qos), (will_topic, "gone", "1"), r)

    # -- wildcards ---------------------------------------------------------------------------------------------
    def test_wildcards_plus_and_hash(self):
        """`+` matches exactly one level and `#` any number of levels including the parent (MQTT-4.7.1-2/3);
        neither matches a different prefix."""
        root = unique("wc")
        plus = self.sub([f"{root}/+/c"], "-q", "1")
        hash_ = self.sub([f"{root}/a/#"], "-q", "1")
        published = [f"{root}/a/c", f"{root}/b/c", f"{root}/a/b/c", f"{root}/a", f"{root}/x/c/d", f"{root}/c",
                     f"{root}/a/c/d"]
        for t in published:
            self.pub("-t", t, "-q", "1", "-m", t)
        # "end" matches both filters: once it is there, everything published before it is too
        self.pub("-t", f"{root}/a/c", "-q", "1", "-m", "end")
        plus.wait_payload("end")
        hash_.wait_payload("end")
        self.assertEqual(plus.payloads(), [f"{root}/a/c", f"{root}/b/c", "end"], plus.describe())
        self.assertEqual(hash_.payloads(), [f"{root}/a/c", f"{root}/a/b/c", f"{root}/a", f"{root}/a/c/d", "end"],
                         hash_.describe())

    # -- shared subscriptions ----------------------------------------------------------------------------------
    def test_shared_subscription_each_message_to_one_member(self):
        """With two members of `$share/g/<topic>`, each message goes to exactly one member (5.0 section 4.8.2);
        with the configured round_robin policy both members get some."""
        topic = unique("sh/")
        a = self.sub([f"$share/g/{topic}"], "-q", "1")
        b = self.sub([f"$share/g/{topic}"], "-q", "1")
        msgs = [f"s{i}" for i in range(10)]
        self.pub("-t", topic, "-q", "1", "-l", stdin="\n".join(msgs) + "\n")
        a.wait_for(lambda: set(a.payloads()) | set(b.payloads()) >= set(msgs), 20, "all shared messages")
        got = a.payloads() + b.payloads()
        self.assertEqual(sorted(got), sorted(msgs), f"each message exactly once\n{a.describe()}\n{b.describe()}")
        self.assertTrue(a.payloads() and b.payloads(), f"round_robin gave one member nothing: {got}")

    # -- persistent session ------------------------------------------------------------------------------------
    def test_persistent_session_receives_messages_published_while_offline(self):
        """A `-c -i id -q 1` subscriber that disconnects keeps its session and subscription; QoS 1 messages
        published while it is offline are queued and delivered, in order, when it connects again
        (MQTT-3.1.2-4/5, 5.0 section 3.1.2.4 with the Session Expiry Interval that -c sets)."""
        topic = unique("ps/")
        cid = unique("ps")
        first = self.sub([topic], "-c", "-i", cid, "-q", "1")
        self.assertEqual(first.terminate(), 0, first.describe())
        msgs = ["off1", "off2", "off3"]
        self.pub("-t", topic, "-q", "1", "-l", stdin="\n".join(msgs) + "\n")
        again = self.sub([topic], "-c", "-i", cid, "-q", "1", "-C", "3", probe=False)
        self.assertEqual(again.wait_exit(), 0, again.describe())
        recs = again.records()
        self.assertEqual([r.payload for r in recs], msgs, again.describe())
        self.assertTrue(all(r.qos == "1" for r in recs), recs)

    def test_clean_session_discards_subscription(self):
        """A subscriber without -c (clean session / clean start with expiry 0) leaves no session behind: a new
        connection with the same client id receives nothing that was published while it was away
        (MQTT-3.1.2-6, 5.0 section 3.1.2.11.2)."""
        topic = unique("cs/")
        cid = unique("cs")
        first = self.sub([topic], "-i", cid, "-q", "1")
        self.assertEqual(first.terminate(), 0, first.describe())
        self.pub("-t", topic, "-q", "1", "-m", "while-away")
        probe_topic = unique("cs-probe/")
        again = self.sub([probe_topic], "-i", cid, "-q", "1")  # subscribes only to its probe topics
        self.assertEqual(again.records(), [], again.describe())


class MosquittoV31(MosquittoTests, BrokerTestCase):
    version = "mqttv31"


class MosquittoV311(MosquittoTests, BrokerTestCase):
    version = "mqttv311"


class MosquittoV5(MosquittoTests, BrokerTestCase):
    version = "mqttv5"


class MosquittoV5Only(BrokerTestCase):
    """MQTT 5 properties through mosquitto_pub -D and mosquitto_sub -F."""

    version = "mqttv5"

    def setUp(self):
        super().setUp()
        self.m = Session(self, self.port)

    def pub(self, *args, **kw):
        return self.m.pub(self.version, *args, **kw)

    def sub(self, topics, *args, **kw):
        return self.m.sub(self.version, topics, *args, **kw)

    def test_user_properties_in_order(self):
        """User properties of a PUBLISH, including a repeated key, reach a v5 subscriber unchanged and in order
        (5.0 section 3.3.2.3.7: the Server MUST maintain the order of User Properties)."""
        topic = unique("up/")
        s = self.sub([topic], "-q", "1")
        self.pub("-t", topic, "-q", "1", "-m", "p", "-D", "publish", "user-property", "k1", "v1",
                 "-D", "publish", "user-property", "k2", "v2", "-D", "publish", "user-property", "k1", "v3")
        (r,) = s.wait_records(1)
        self.assertEqual((r.payload, r.props), ("p", "k1:v1 k2:v2 k1:v3"), r)

    def test_response_topic_passed_through(self):
        """The Response Topic of a PUBLISH is forwarded to the subscriber (5.0 section 3.3.2.3.5)."""
        topic = unique("rt/")
        s = self.sub([topic], "-q", "1")
        self.pub("-t", topic, "-q", "1", "-m", "req", "-D", "publish", "response-topic", "reply/here")
        (r,) = s.wait_records(1)
        self.assertEqual((r.payload, r.response), ("req", "reply/here"), r)

    def test_topic_alias_from_publisher(self):
        """mosquitto_pub -l with `-D publish topic-alias 1` sends the topic with alias 1 once, then empty topics
        with alias 1; the broker maps them back, so the subscriber sees every message on the full topic
        (5.0 section 3.3.2.3.4)."""
        topic = unique("alias/")
        s = self.sub([topic], "-q", "1")
        for qos in ("0", "1", "2"):
            lines = [f"a{qos}-{i}" for i in range(4)]
            self.pub("-t", topic, "-q", qos, "-l", "-D", "publish", "topic-alias", "1",
                     stdin="\n".join(lines) + "\n")
            s.wait_payload(lines[-1])
        recs = s.records()
        self.assertEqual([r.payload for r in recs], [f"a{q}-{i}" for q in "012" for i in range(4)], s.describe())
        self.assertTrue(all(r.topic == topic for r in recs), recs)
        self.assertTrue(all(r.alias == "" for r in recs), "alias sent to a client that allowed none")

    def test_message_expiry_interval_forwarded_and_decremented(self):
        """A PUBLISH with Message Expiry Interval 100 reaches a live subscriber with an interval of at most 100,
        and a retained one kept for a while reaches a late subscriber with the interval reduced by the time it
        waited (5.0 section 3.3.2.3.3, MQTT-3.3.2-6)."""
        topic = unique("exp/")
        s = self.sub([topic], "-q", "1")
        self.pub("-t", topic, "-q", "1", "-m", "live", "-D", "publish", "message-expiry-interval", "100")
        (r,) = s.wait_records(1)
        self.assertEqual(r.payload, "live")
        self.assertTrue(r.expiry.isdigit() and 98 <= int(r.expiry) <= 100, r)

        rtopic = unique("exp-ret/")
        t0 = time.monotonic()
        self.pub("-t", rtopic, "-q", "1", "-r", "-m", "kept", "-D", "publish", "message-expiry-interval", "100")
        # The decrement is the thing under test, so time has to pass: wait for 2.2 s of it, bounded.
        self.wait_until(lambda: time.monotonic() - t0 >= 2.2, 5, "2.2 s to pass")
        late = self.sub([rtopic], "-q", "1", "-C", "1", probe=False)
        self.assertEqual(late.wait_exit(), 0, late.describe())
        (r,) = late.records()
        self.assertEqual((r.payload, r.retain), ("kept", "1"), r)
        self.assertTrue(r.expiry.isdigit() and 1 <= int(r.expiry) <= 98, f"expiry not reduced by the wait: {r}")

    def test_expired_retained_message_not_delivered(self):
        """A retained message whose Message Expiry Interval (1 s) has passed is no longer sent to new subscribers,
        while a retained message without expiry still is (5.0 section 3.3.2.3.3)."""
        root = unique("expd")
        t0 = time.monotonic()
        self.pub("-t", f"{root}/short", "-q", "1", "-r", "-m", "short", "-D", "publish", "message-expiry-interval",
                 "1")
        self.pub("-t", f"{root}/forever", "-q", "1", "-r", "-m", "forever")
        self.wait_until(lambda: time.monotonic() - t0 >= 2.5, 6, "the 1 s expiry to pass")
        s = self.sub([f"{root}/#"], "-q", "1")
        # a retained message is sent in answer to the SUBSCRIBE, so with the probe seen it is already there
        s.wait_records(1)
        self.assertEqual([(r.topic, r.payload) for r in s.records()], [(f"{root}/forever", "forever")],
                         s.describe())

    def test_expired_message_not_delivered_to_resumed_session(self):
        """A QoS 1 message queued for an offline session whose Message Expiry Interval passes before the session
        resumes is discarded; a message without expiry is delivered (5.0 section 3.3.2.3.3)."""
        topic = unique("expq/")
        cid = unique("eq")
        first = self.sub([topic], "-c", "-i", cid, "-q", "1", "-x", "300")
        self.assertEqual(first.terminate(), 0, first.describe())
        t0 = time.monotonic()
        self.pub("-t", topic, "-q", "1", "-m", "short", "-D", "publish", "message-expiry-interval", "1")
        self.pub("-t", topic, "-q", "1", "-m", "forever")
        self.wait_until(lambda: time.monotonic() - t0 >= 2.5, 6, "the 1 s expiry to pass")
        again = self.sub([topic], "-c", "-i", cid, "-q", "1", "-x", "300", "-C", "1", probe=False)
        self.assertEqual(again.wait_exit(), 0, again.describe())
        self.assertEqual(again.payloads(), ["forever"], again.describe())


if __name__ == "__main__":
    broker.take_mothd_from_argv()
    unittest.main()
