"""python3-paho-mqtt 1.6.1 against mothd, as an MQTT 3.1.1 client and as an MQTT 5 client.

`PahoTests` runs with both versions (`PahoV311`, `PahoV5`); `PahoV5Only` covers what only MQTT 5 has; `PahoConnack`
prints and checks what the broker advertises in CONNACK.
"""

import socket
import sys
import time
import unittest
import uuid

import broker
from broker import HOST, BrokerTestCase
from pahoclient import V5, V311, ClientFactory, PacketTypes, SubscribeOptions, props, publish_props


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class PahoTests:
    version = None

    def setUp(self):
        super().setUp()
        self.f = ClientFactory(self, self.port)

    def connected(self, **kw):
        return self.f.connected(self.version, **kw)

    # -- QoS -------------------------------------------------------------------------------------------------
    def test_qos_0_1_2_both_directions(self):
        """For each QoS 0, 1, 2: the publisher's on_publish fires (QoS 1 after PUBACK, QoS 2 after PUBCOMP, so the
        broker completed the inbound flow) and the subscriber's on_message gets the message once, at that QoS,
        after the broker's outbound flow (paho acknowledges PUBLISH/PUBREL)."""
        pub = self.connected()
        for qos in (0, 1, 2):
            with self.subTest(qos=qos):
                topic = unique(f"pq{qos}/")
                sub = self.connected()
                self.assertEqual(sub.subscribe(topic, qos), [qos])
                payloads = [f"q{qos}-{i}".encode() for i in range(5)] + [b"end"]
                for p in payloads:
                    pub.publish(topic, p, qos=qos)
                msgs = sub.wait_payload(b"end")
                self.assertEqual([m.payload for m in msgs], payloads, sub.describe_messages())
                for m in msgs:
                    self.assertEqual((m.topic, m.qos, m.retain, m.dup), (topic, qos, False, False))

    # -- retained ----------------------------------------------------------------------------------------------
    def test_retained_and_clear(self):
        """A retained message reaches a later subscriber with retain=True; publishing an empty retained payload
        removes it, so the next subscriber receives only a later non-retained marker (MQTT-3.3.1-5/10/11)."""
        topic = unique("pr/")
        pub = self.connected()
        pub.publish(topic, b"kept", qos=1, retain=True)
        late = self.connected()
        late.subscribe(topic, 1)
        (m,) = late.wait_messages(1)
        self.assertEqual((m.topic, m.payload, m.retain, m.qos), (topic, b"kept", True, 1))

        pub.publish(topic, b"", qos=1, retain=True)
        after = self.connected()
        after.subscribe(topic, 1)
        pub.publish(topic, b"marker", qos=1)
        msgs = after.wait_payload(b"marker")
        self.assertEqual([(m.payload, m.retain) for m in msgs], [(b"marker", False)], after.describe_messages())

    # -- will ----------------------------------------------------------------------------------------------------
    def test_will_on_socket_close(self):
        """A client whose TCP connection closes without DISCONNECT has its will published (MQTT-3.1.2-8)."""
        wt = unique("pw/")
        watcher = self.connected()
        watcher.subscribe(wt, 1)
        victim = self.f.client(self.version)
        victim.c.will_set(wt, b"lost", qos=1, retain=False)
        victim.connect()
        victim.drop()
        (m,) = watcher.wait_messages(1)
        self.assertEqual((m.topic, m.payload, m.qos), (wt, b"lost", 1))

    def test_no_will_after_disconnect(self):
        """A client that sends DISCONNECT (reason 0 in 5.0) has its will discarded (MQTT-3.1.2-10, 5.0
        MQTT-3.14.4-3): after the client's DISCONNECT, a marker published on the will topic by another client
        arrives with no will before it (a wrongly published will would be sent when the broker handles the close,
        which it does before a new connection's CONNECT and PUBLISH)."""
        wt = unique("pnw/")
        watcher = self.connected()
        watcher.subscribe(wt, 1)
        polite = self.f.client(self.version)
        polite.c.will_set(wt, b"should-not-appear", qos=1)
        polite.connect()
        polite.disconnect()
        self.connected().publish(wt, b"marker", qos=1)
        msgs = watcher.wait_payload(b"marker")
        self.assertEqual([m.payload for m in msgs], [b"marker"], watcher.describe_messages())

    # -- wildcards -----------------------------------------------------------------------------------------------
    def test_wildcards(self):
        """`+` matches one level, `#` the parent and any levels below; `#` alone does not match `$SYS` topics
        (MQTT-4.7.2-1) although mothd publishes them every second."""
        root = unique("pwc")
        plus = self.connected()
        plus.subscribe(f"{root}/+/c", 1)
        hash_ = self.connected()
        hash_.subscribe(f"{root}/a/#", 1)
        everything = self.connected()
        everything.subscribe("#", 0)
        pub = self.connected()
        published = [f"{root}/a/c", f"{root}/b/c", f"{root}/a/b/c", f"{root}/a", f"{root}/x/c/d", f"{root}/c"]
        for t in published:
            pub.publish(t, t.encode(), qos=1)
        pub.publish(f"{root}/a/c", b"end", qos=1)
        self.assertEqual([m.topic for m in plus.wait_payload(b"end")],
                         [f"{root}/a/c", f"{root}/b/c", f"{root}/a/c"])
        self.assertEqual([m.topic for m in hash_.wait_payload(b"end")],
                         [f"{root}/a/c", f"{root}/a/b/c", f"{root}/a", f"{root}/a/c"])
        got = [m.topic for m in everything.wait_payload(b"end")]
        self.assertEqual(got, published + [f"{root}/a/c"], "`#` must match every non-$ topic and no $SYS topic")

    # -- shared subscriptions --------------------------------------------------------------------------------
    def test_shared_subscription(self):
        """Two members of `$share/grp/<topic>` receive each of 20 QoS 1 messages exactly once between them
        (5.0 section 4.8.2); a normal subscriber to the same topic gets all 20."""
        topic = unique("psh/")
        a, b, plain = self.connected(), self.connected(), self.connected()
        a.subscribe(f"$share/grp/{topic}", 1)
        b.subscribe(f"$share/grp/{topic}", 1)
        plain.subscribe(topic, 1)
        pub = self.connected()
        payloads = [f"m{i}".encode() for i in range(20)]
        for p in payloads:
            pub.publish(topic, p, qos=1)
        plain.wait_messages(20)
        a.wait(lambda: len(a.messages) + len(b.messages) >= 20, "20 shared messages")
        got = [m.payload for m in a.messages] + [m.payload for m in b.messages]
        self.assertEqual(sorted(got), sorted(payloads))
        self.assertTrue(a.messages and b.messages, "round_robin left one member without messages")
        self.assertEqual([m.payload for m in plain.messages], payloads)

    # -- persistent session ----------------------------------------------------------------------------------
    def session_connect(self, client):
        if self.version == V5:
            return client.connect(clean_start=False,
                                  properties=props(PacketTypes.CONNECT, SessionExpiryInterval=300))
        return client.connect()

    def test_persistent_session_resume(self):
        """A client with clean_session=False (5.0: clean_start=False, Session Expiry 300 s) reconnects to find
        session present=1, its subscription kept, and the QoS 1 and 2 messages published while it was offline
        delivered in order (MQTT-3.1.2-4, MQTT-3.2.2-2, 5.0 section 3.1.2.11)."""
        topic = unique("pps/")
        cid = unique("pps")
        c = self.f.client(self.version, client_id=cid, clean_session=False)
        flags, _, _ = self.session_connect(c)
        self.assertEqual(flags["session present"], 0, "a new client id cannot have a session")
        c.subscribe(topic, 2)
        c.disconnect()

        pub = self.connected()
        payloads = [b"o1", b"o2", b"o3"]
        for i, p in enumerate(payloads):
            pub.publish(topic, p, qos=1 + i % 2)

        again = self.f.client(self.version, client_id=cid, clean_session=False)
        flags, _, _ = self.session_connect(again)
        self.assertEqual(flags["session present"], 1)
        msgs = again.wait_messages(3)
        # 4.6: order is guaranteed per topic *and QoS* (MQTT-4.6.0-6), so compare each QoS's sequence
        self.assertEqual([m.payload for m in msgs if m.qos == 1], [b"o1", b"o3"], again.describe_messages())
        self.assertEqual([m.payload for m in msgs if m.qos == 2], [b"o2"], again.describe_messages())
        self.assertEqual(len(msgs), 3, again.describe_messages())


class PahoV311(PahoTests, BrokerTestCase):
    version = V311


class PahoV5(PahoTests, BrokerTestCase):
    version = V5


class PahoV5Only(BrokerTestCase):
    version = V5

    def setUp(self):
        super().setUp()
        self.f = ClientFactory(self, self.port)

    def connected(self, **kw):
        return self.f.connected(V5, **kw)

    def test_topic_alias_from_client(self):
        """The client sets Topic Alias 1 with the topic once, then publishes with an empty topic and alias 1: the
        broker maps the alias, and subscribers get every message on the full topic (5.0 section 3.3.2.3.4)."""
        topic = unique("pta/")
        sub = self.connected()
        sub.subscribe(topic, 1)
        pub = self.f.client(V5)
        _, _, cp = pub.connect()
        self.assertGreaterEqual(getattr(cp, "TopicAliasMaximum", 0), 1, "broker allows no topic alias")
        pub.publish(topic, b"first", qos=1, properties=publish_props(TopicAlias=1))
        pub.publish("", b"second", qos=1, properties=publish_props(TopicAlias=1))
        pub.publish("", b"third", qos=0, properties=publish_props(TopicAlias=1))
        pub.publish("", b"fourth", qos=2, properties=publish_props(TopicAlias=1))
        msgs = sub.wait_payload(b"fourth")
        self.assertEqual([(m.topic, m.payload) for m in msgs],
                         [(topic, b"first"), (topic, b"second"), (topic, b"third"), (topic, b"fourth")])

    def test_topic_alias_to_client(self):
        """When the subscriber allows 4 topic aliases, whatever the broker sends is valid: each message has the
        full topic or an alias 1..4 established earlier with that topic; without the client's permission, the
        broker sends no Topic Alias at all (5.0 MQTT-3.3.2-8/9 and section 3.3.2.3.4)."""
        topic = unique("ptb/")
        allowing = self.f.client(V5)
        allowing.connect(properties=props(PacketTypes.CONNECT, TopicAliasMaximum=4))
        allowing.subscribe(topic, 1)
        refusing = self.connected()
        refusing.subscribe(topic, 1)
        pub = self.connected()
        for i in range(5):
            pub.publish(topic, f"a{i}".encode(), qos=1)
        aliases = {}
        for m in allowing.wait_messages(5):
            alias = getattr(m.properties, "TopicAlias", None)
            if alias is not None:
                self.assertTrue(1 <= alias <= 4, f"alias {alias} outside the client's maximum 4")
                if m.topic:
                    aliases[alias] = m.topic
                else:
                    self.assertEqual(aliases.get(alias), topic, f"unknown alias {alias} used with empty topic")
            else:
                self.assertEqual(m.topic, topic)
        for m in refusing.wait_messages(5):
            self.assertEqual(m.topic, topic)
            self.assertIsNone(getattr(m.properties, "TopicAlias", None), "alias sent to a client that allowed none")

    def test_user_properties_in_order(self):
        """User properties, with a repeated key, arrive unchanged and in order (5.0 MQTT-3.3.2-18)."""
        topic = unique("pup/")
        sub = self.connected()
        sub.subscribe(topic, 1)
        up = [("a", "1"), ("b", "2"), ("a", "3"), ("zz", ""), ("ünï", "cödé")]
        self.connected().publish(topic, b"x", qos=1, properties=publish_props(UserProperty=up))
        (m,) = sub.wait_messages(1)
        self.assertEqual(m.properties.UserProperty, up)

    def test_response_topic_and_correlation_data(self):
        """Response Topic and Correlation Data are passed to the subscriber unchanged (5.0 MQTT-3.3.2-15/16), as
        are Content Type and Payload Format Indicator."""
        topic = unique("prr/")
        sub = self.connected()
        sub.subscribe(topic, 1)
        cd = bytes(range(256))
        self.connected().publish(topic, b"req", qos=1, properties=publish_props(
            ResponseTopic="replies/42", CorrelationData=cd, ContentType="text/plain", PayloadFormatIndicator=1))
        (m,) = sub.wait_messages(1)
        p = m.properties
        self.assertEqual((p.ResponseTopic, p.CorrelationData, p.ContentType, p.PayloadFormatIndicator),
                         ("replies/42", cd, "text/plain", 1))

    def test_subscription_identifiers(self):
        """A message carries the Subscription Identifier of each matching subscription of the receiver: one on a
        topic matched by one subscription, both (in one message or one per message) where two match
        (5.0 section 3.3.4, MQTT-3.3.4-3/4/5)."""
        root = unique("psi")
        sub = self.connected()
        sub.subscribe(f"{root}/a/+", 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7))
        sub.subscribe(f"{root}/#", 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=300))
        plain = self.connected()
        plain.subscribe(f"{root}/#", 1)
        pub = self.connected()
        pub.publish(f"{root}/b", b"only-hash", qos=1)
        pub.publish(f"{root}/a/x", b"both", qos=1)
        pub.publish(f"{root}/b", b"end", qos=1)

        def ids(m):
            v = getattr(m.properties, "SubscriptionIdentifier", None)
            return [] if v is None else (v if isinstance(v, list) else [v])

        msgs = sub.wait_payload(b"end")
        self.assertEqual([ids(m) for m in msgs if m.payload == b"only-hash"], [[300]])
        both = [ids(m) for m in msgs if m.payload == b"both"]
        self.assertIn(sorted(sum(both, [])), ([7, 300],), f"identifiers for the overlapping match: {both}")
        self.assertTrue(all(b for b in both), f"a copy without identifier: {both}")
        for m in plain.wait_payload(b"end"):
            self.assertEqual(ids(m), [], "identifier sent for a subscription that had none")

    def test_no_local(self):
        """With No Local set, the subscriber does not receive its own publications but does receive others'
        (5.0 MQTT-3.8.3-3)."""
        topic = unique("pnl/")
        me = self.connected()
        me.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
        me.publish(topic, b"mine", qos=1)
        self.connected().publish(topic, b"theirs", qos=1)
        msgs = me.wait_payload(b"theirs")
        self.assertEqual([m.payload for m in msgs], [b"theirs"])

    def test_retain_as_published_and_retain_handling(self):
        """Retain As Published keeps the retain flag on live delivery; Retain Handling 2 sends no retained
        messages on subscribe (5.0 section 3.8.3.1)."""
        topic = unique("prap/")
        pub = self.connected()
        pub.publish(topic, b"stored", qos=1, retain=True)
        rap = self.connected()
        rap.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=True))
        (m,) = rap.wait_messages(1)
        self.assertEqual((m.payload, m.retain), (b"stored", True))
        rh2 = self.connected()
        rh2.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND))
        pub.publish(topic, b"live", qos=1, retain=True)
        msgs = rap.wait_payload(b"live")
        self.assertEqual([(m.payload, m.retain) for m in msgs], [(b"stored", True), (b"live", True)])
        msgs = rh2.wait_payload(b"live")
        self.assertEqual([(m.payload, m.retain) for m in msgs], [(b"live", False)])

    def test_will_with_disconnect_reason_0x04(self):
        """DISCONNECT with reason 0x04 (Disconnect with Will Message) makes the broker publish the will, with its
        properties (5.0 section 3.14.2.1)."""
        wt = unique("pw4/")
        watcher = self.connected()
        watcher.subscribe(wt, 1)
        c = self.f.client(V5)
        c.c.will_set(wt, b"bye", qos=1, properties=props(PacketTypes.WILLMESSAGE, UserProperty=[("why", "0x04")],
                                                          ContentType="text/plain"))
        c.connect()
        from paho.mqtt.reasoncodes import ReasonCodes
        c.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT, identifier=4))
        (m,) = watcher.wait_messages(1)
        self.assertEqual((m.topic, m.payload), (wt, b"bye"))
        self.assertEqual((m.properties.UserProperty, m.properties.ContentType), ([("why", "0x04")], "text/plain"))

    def test_session_expires(self):
        """A session with Session Expiry Interval 1 s is gone after the interval: reconnecting with clean_start=False
        2.5 s later gives session present=0 and no queued message (5.0 section 3.1.2.11.2)."""
        topic = unique("pse/")
        cid = unique("pse")
        c = self.f.client(V5, client_id=cid)
        c.connect(clean_start=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
        c.subscribe(topic, 1)
        c.disconnect()
        t0 = time.monotonic()
        self.connected().publish(topic, b"queued", qos=1)
        self.wait_until(lambda: time.monotonic() - t0 >= 2.5, 6, "the 1 s session expiry to pass")
        again = self.f.client(V5, client_id=cid)
        flags, _, _ = again.connect(clean_start=False,
                                    properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
        self.assertEqual(flags["session present"], 0, "session still present after its expiry interval")
        marker = unique("pse-m/")
        again.subscribe(marker, 1)
        self.connected().publish(marker, b"m", qos=1)
        msgs = again.wait_payload(b"m")
        self.assertEqual([m.payload for m in msgs], [b"m"], "a message of the expired session was delivered")


class PahoConnack(BrokerTestCase):
    broker_overrides = ("limits.receive_maximum=50", "limits.max_packet_size=65536",
                        "limits.topic_alias_maximum=7")

    def test_connack_properties(self):
        """The CONNACK of a 5.0 connection advertises Receive Maximum, Maximum Packet Size and Topic Alias Maximum
        with the configured values (5.0 section 3.2.2.3); a 3.1.1 CONNACK has return code 0 and session present 0
        for a clean session."""
        f = ClientFactory(self, self.port)
        c = f.client(V5)
        flags, rc, p = c.connect()
        sys.stderr.write(f"\nCONNACK properties advertised by mothd: {p.json() if p else None}\n")
        self.assertEqual((rc, flags["session present"]), (0, 0))
        for name in ("ReceiveMaximum", "MaximumPacketSize", "TopicAliasMaximum"):
            self.assertTrue(hasattr(p, name), f"CONNACK lacks {name}: {p}")
        self.assertEqual((p.ReceiveMaximum, p.MaximumPacketSize, p.TopicAliasMaximum), (50, 65536, 7))
        old = f.client(V311)
        flags, rc, _ = old.connect()
        self.assertEqual((rc, flags["session present"]), (0, 0))

    def test_topic_alias_above_maximum_disconnects(self):
        """A PUBLISH with a Topic Alias above the advertised Topic Alias Maximum (7) is answered with DISCONNECT
        reason 0x94 Topic Alias invalid and the connection is closed (5.0 section 3.3.2.3.4, MQTT-3.3.2-9); the
        message is not routed. Raw bytes, because paho 1.6.1 ignores a DISCONNECT shorter than 3 bytes."""
        f = ClientFactory(self, self.port)
        topic = unique("pbad/")
        sub = f.connected(V5)
        sub.subscribe(topic, 1)
        with socket.create_connection((HOST, self.port), timeout=20) as s:
            cid = unique("raw").encode()
            body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00" + len(cid).to_bytes(2, "big") + cid
            s.sendall(bytes([0x10, len(body)]) + body)
            connack = read_packet(s)
            self.assertEqual((connack[0], connack[2][1]), (0x20, 0), f"CONNACK {connack}")
            t = topic.encode()
            body = len(t).to_bytes(2, "big") + t + b"\x03\x23\x00\x08" + b"bad"
            s.sendall(bytes([0x30, len(body)]) + body)
            first, _, rest = read_packet(s)
            self.assertEqual((first, rest[:1]), (0xE0, b"\x94"), "expected DISCONNECT 0x94")
            self.assertEqual(s.recv(1), b"", "connection not closed after DISCONNECT")
        f.connected(V5).publish(topic, b"marker", qos=1)
        self.assertEqual([m.payload for m in sub.wait_payload(b"marker")], [b"marker"])


def read_packet(s):
    """Reads one MQTT packet from a blocking socket with a timeout: (first byte, remaining length, body)."""
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise AssertionError(f"connection closed after {data!r}")
            data += chunk
        return data
    first = exact(1)[0]
    length, mult = 0, 1
    while True:
        d = exact(1)[0]
        length += (d & 0x7F) * mult
        mult *= 128
        if not d & 0x80:
            break
    return first, length, exact(length)


if __name__ == "__main__":
    broker.take_mothd_from_argv()
    unittest.main()
