"""A Moth cluster on NATS JetStream (issue 23, docs/cluster.md) with real clients: three nats-servers in one
JetStream cluster, three mothd nodes (n1, n2, n3), python3-paho-mqtt and mosquitto_pub/sub as clients
(helpers in clustertest.py). One cluster serves every test of this module: each test uses its own topics.

Failures of NATS servers and of mothd nodes: test_cluster_failover.py.
"""

import socket
import unittest

from broker import HOST
from clustertest import PROBE, ClusterTestCase, no_reconnect, real, wait_until
from mosq import Sub, pub, unique
from pahoclient import V5, V311, PacketTypes, props
from rawmqtt import connect_packet

VERSIONS = {V311: "mqttv311", V5: "mqttv5"}
WAIT_S = 30


class TestClusterRouting(ClusterTestCase):

    def expect_in_order(self, got, sent, qos, who):
        self.assertEqual([m.payload for m in got], sent, f"{who}: every message once, in the publisher's order")
        self.assertEqual({m.qos for m in got}, {qos}, f"{who}: delivered at the QoS of publisher and subscription")

    def test_publish_on_one_node_reaches_the_others(self):
        """A publisher on n1, a paho subscriber on n2 and a mosquitto_sub on n3; QoS 0, 1, 2; 3.1.1 and 5.0: every
        message once and in order per publisher ([MQTT-4.6.0-6]: one publisher's messages of one topic and QoS
        are sent in the order received)."""
        for version in (V311, V5):
            for qos in (0, 1, 2):
                with self.subTest(version=version, qos=qos):
                    base = unique("route/")
                    publisher = self.client(0, version)
                    paho_sub = self.client(1, version)
                    paho_sub.subscribe(base + "/#", qos)
                    mosq_sub = Sub(self.cluster.port(2), VERSIONS[version], [base + "/#"], "-q", str(qos),
                                   probe=False)
                    self.addCleanup(mosq_sub.cleanup)
                    self.wait_routed(publisher, base + "/probe", qos, [paho_sub, mosq_sub])
                    sent = [f"m{qos}-{i}".encode() for i in range(20)]
                    for p in sent:
                        publisher.publish(base + "/data", p, qos)
                    fence = b"fence"
                    publisher.publish(base + "/data", fence, qos)
                    got = real(paho_sub.wait_payload(fence, WAIT_S))[:-1]
                    self.expect_in_order(got, sent, qos, "paho on n2")
                    records = mosq_sub.wait_payload(fence.decode(), WAIT_S)[:-1]
                    records = [r for r in records if not r.payload.startswith(PROBE.decode())]
                    self.assertEqual([r.payload.encode() for r in records], sent, "mosquitto_sub on n3")
                    self.assertEqual({int(r.qos) for r in records}, {qos}, "mosquitto_sub on n3: QoS")

    def test_overlapping_subscriptions_one_copy(self):
        """Two filters of one session on n2 match messages published on n1: one copy each, at the greater QoS of the
        matching subscriptions capped by the publish's ([MQTT-3.3.4-2], 3.1.1 [MQTT-3.3.5-1]; 3.1.1 allows copies, Moth merges per
        session), even though the node may hold the two filters apart on NATS."""
        for version in (V311, V5):
            with self.subTest(version=version):
                base = unique("over/")
                publisher = self.client(0, version)
                sub = self.client(1, version)
                sub.subscribe(base + "/#", 0)
                sub.subscribe(base + "/+/x", 2)
                self.wait_routed(publisher, base + "/p/x", 1, [sub])
                sent = [f"o{i}".encode() for i in range(10)] + [b"fence"]
                for p in sent:
                    publisher.publish(base + "/a/x", p, 1)
                got = real(sub.wait_payload(b"fence", WAIT_S))
                self.expect_in_order(got, sent, 1, "overlapping subscriber")

    def test_shared_subscription_once_per_group(self):
        """$share/g/t with one member on each node, a publisher on n1: every message to exactly one member of the
        group cluster-wide (5.0 section 4.8.2: each message goes to one session of the group), and both
        the local member (n1) and remote members (n2, n3) get some."""
        base = unique("shared/")
        group = unique("g")
        publisher = self.client(0, V5)
        members = [self.client(i, V5) for i in range(3)]
        for m in members:
            m.subscribe(f"$share/{group}/{base}/#", 1)
        self.wait_routed(publisher, base + "/probe", 1, members)  # a probe reaches each member: all are known
        sent = [f"s{i}".encode() for i in range(90)]
        for p in sent:
            publisher.publish(base + "/data", p, 1)

        def union():
            got = []
            for m in members:
                with m.cond:
                    got += [x.payload for x in real(m.messages)]
            return got
        wait_until(lambda: len(set(union())) >= len(sent), WAIT_S, "every shared message somewhere",
                   lambda: f"got {sorted(set(union()))}")
        got = union()
        self.assertEqual(sorted(got), sorted(sent), "each message exactly once across the group")
        counts = [len(real(m.messages)) for m in members]
        self.assertTrue(all(c > 0 for c in counts), f"members on n1, n2, n3 each got some: {counts}")

    def test_node_without_subscribers_gets_nothing(self):
        """Publisher on n1, subscribers on n2 only: n3 holds no interest in the topic, so the bus brings it none of
        the messages (moth_cluster_received_total in its /metrics stays put)."""
        def received(node):
            return self.cluster.nodes[node].metrics().get("moth_cluster_received_total")
        before = received(2)
        self.assertIsNotNone(before, "moth_cluster_received_total in n3's /metrics")
        base = unique("quiet/")
        publisher = self.client(0, V5)
        sub = self.client(1, V5)
        sub.subscribe(base + "/0", 0)
        sub.subscribe(base + "/1", 1)
        self.wait_routed(publisher, base + "/0", 0, [sub])
        self.wait_routed(publisher, base + "/1", 1, [sub])
        n2_before = received(1)
        for qos in (0, 1):
            for i in range(10):
                publisher.publish(f"{base}/{qos}", b"x%d" % i, qos)
        sub.wait(lambda: len(real(sub.messages)) >= 20, "20 messages on n2")
        wait_until(lambda: received(1) > n2_before, WAIT_S, "n2's counter to count what the bus brought it")
        self.assertEqual(received(2), before, "n3 got messages it has no subscriber for")

    # -- retained ------------------------------------------------------------------------------------------------
    def retained_on(self, node, topic, fence, timeout=WAIT_S):
        """What a new subscriber on `node` gets as the retained message of `topic`: subscribes to `topic`, then
        (a second SUBSCRIBE) to `fence`, whose retained message is known to be there; a connection's packets are
        handled in order, so once the fence's retained message is in, so is the topic's, if any."""
        c = self.client(node, V311)
        c.subscribe(topic, 1)
        c.subscribe(fence, 1)
        c.wait(lambda: any(m.topic == fence for m in c.messages), f"the fence {fence}", timeout)
        found = [m for m in c.messages if m.topic == topic]
        c.disconnect()
        return found

    def retained_fence(self, fence):
        """Sets a retained message on `fence` (n1) and waits until a new subscriber on every node gets it. Each try
        waits briefly, since a subscriber that came before the node's mirror had it never gets it."""
        pub(self.cluster.port(0), "mqttv311", "-t", fence, "-m", "fence", "-r", "-q", "1")
        for node in range(3):
            def visible(node=node):
                try:
                    return self.retained_on(node, fence, fence, timeout=2) is not None
                except AssertionError:
                    return False
            wait_until(visible, WAIT_S, f"the fence's retained message on n{node + 1}")

    def test_retained_is_cluster_wide(self):
        """Retained set on n1 reaches a new subscriber on n3; cleared on n2 (an empty retained payload,
        [MQTT-3.3.1-10]/[MQTT-3.3.1-11]), a new subscriber on n1 gets nothing. The nodes mirror the retained messages,
        so each step is waited for with a deadline rather than expected at once."""
        topic, fence = unique("ret/"), unique("fence/")
        self.retained_fence(fence)
        pub(self.cluster.port(0), "mqttv5", "-t", topic, "-m", "kept", "-r", "-q", "1")
        got = wait_until(lambda: self.retained_on(2, topic, fence), WAIT_S, "the retained message on n3")
        self.assertEqual([(m.payload, bool(m.retain)) for m in got], [(b"kept", True)])
        pub(self.cluster.port(1), "mqttv311", "-t", topic, "-n", "-r", "-q", "1")
        wait_until(lambda: self.retained_on(0, topic, fence) == [], WAIT_S, "the retained message cleared on n1")
        wait_until(lambda: self.retained_on(2, topic, fence) == [], WAIT_S, "the retained message cleared on n3")

    # -- take-over and wills -------------------------------------------------------------------------------------
    def raw_connect(self, node, cid, version):
        """A CONNECT over a plain socket (paho 1.6.1 drops a DISCONNECT's reason code when there are no
        properties): returns the socket after a successful CONNACK."""
        sock = socket.create_connection((HOST, self.cluster.port(node)), timeout=WAIT_S)
        self.addCleanup(sock.close)
        sock.sendall(connect_packet(cid, version=5 if version == V5 else 4))
        connack = sock.recv(64)
        self.assertEqual(connack[0], 0x20, f"CONNACK expected: {connack!r}")
        self.assertEqual(connack[3], 0, f"CONNACK refused: {connack!r}")
        return sock

    @staticmethod
    def read_to_end(sock):
        data = b""
        while True:
            chunk = sock.recv(4096)  # bounded by the socket's timeout
            if not chunk:
                return data
            data += chunk

    def test_session_takeover_across_nodes(self):
        """Client id X on n1, then X on n2: the server disconnects the existing connection (3.1.1 [MQTT-3.1.4-2],
        5.0 [MQTT-3.1.4-3]); 5.0 first sends DISCONNECT 0x8E Session taken over (5.0 section 4.13); the new
        connection stays. Five rounds per version: a client moving at once is the case where the old connection's
        own claim, still on its way, could end the newer connection."""
        for version in (V5, V311):
            for round_ in range(5):
                with self.subTest(version=version, round=round_):
                    cid = unique("takeover-")
                    old = self.raw_connect(0, cid, version)
                    new = self.raw_connect(1, cid, version)
                    rest = self.read_to_end(old)
                    if version == V5:
                        # DISCONNECT: 0xE0, remaining length, reason code 0x8E, properties (optional).
                        self.assertEqual(rest[:1], b"\xe0", f"DISCONNECT expected before the close: {rest!r}")
                        self.assertEqual(rest[2], 0x8E, f"Session taken over expected: {rest!r}")
                    else:
                        self.assertEqual(rest, b"", "3.1.1: the connection closed without a packet")
                    # The new connection is alive once the old one is gone: PINGREQ answered by PINGRESP (not a
                    # close, nor a DISCONNECT 0x8E: the old connection's claim ending the newer connection).
                    new.sendall(b"\xc0\x00")
                    self.assertEqual(new.recv(64), b"\xd0\x00", "PINGRESP on the new connection")
                    new.sendall(b"\xe0\x00")  # DISCONNECT

    def persistent(self, node, version, cid, clean):
        """A paho client of `cid` on `node` with a persistent session (5.0: expiry 600 s; 3.1.1: clean session 0);
        returns (client, connack)."""
        c = no_reconnect(self.client(node, version, client_id=cid, clean_session=version == V5, connect=False))
        if version == V5:
            connack = c.connect(clean_start=clean, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=600))
        else:
            connack = c.connect()
        return c, connack

    def test_persistent_session_follows_its_client(self):
        """A persistent subscriber of n1 goes offline; messages are published on n3; it comes back on n2: its
        session is there ([MQTT-3.2.2-2] session present) with its subscriptions and every message queued meanwhile
        ([MQTT-3.1.2-5] / 3.1.1 [MQTT-3.1.2-5]: QoS 1 and 2 messages kept for an absent client), QoS 2 once. Then the
        same client id on n3 while connected on n2 (a take-over): session present there too, and the messages after
        it arrive there."""
        for version in (V5, V311):
            with self.subTest(version=version):
                base, cid = unique("follow/"), unique("follower-")
                sub, _ = self.persistent(0, version, cid, clean=True)
                sub.subscribe(base + "/#", 2)
                publisher = self.client(2, V5)
                self.wait_routed(publisher, base + "/probe", 1, [sub])
                sub.disconnect()
                offline = [(f"offline-{i}".encode(), 1 + i % 2) for i in range(10)]
                for payload, qos in offline:
                    publisher.publish(base + "/data", payload, qos)
                moved, connack = self.persistent(1, version, cid, clean=False)
                self.assertTrue(connack[0].get("session present"), f"CONNACK on n2 {connack}: session present")
                want = {payload for payload, _ in offline}
                moved.wait(lambda: want <= {m.payload for m in moved.messages}, "every message queued offline", WAIT_S)
                publisher.publish(base + "/data", b"on-n2", 1)
                moved.wait_payload(b"on-n2", WAIT_S)
                got = [m.payload for m in real(moved.messages)]
                for payload, qos in offline:
                    self.assertIn(payload, got, "queued while offline, delivered on the other node")
                    if qos == 2:
                        self.assertEqual(got.count(payload), 1, f"{payload!r}: QoS 2 exactly once")
                taker, connack = self.persistent(2, version, cid, clean=False)
                self.assertTrue(connack[0].get("session present"), f"CONNACK on n3 {connack}: session present")
                moved.wait(lambda: moved.disconnected is not None, "the connection on n2 to be taken over")
                publisher.publish(base + "/data", b"on-n3", 2)
                self.assertEqual([m.payload for m in real(taker.wait_payload(b"on-n3", WAIT_S))].count(b"on-n3"), 1)
                taker.disconnect()

    def test_will_published_on_other_nodes(self):
        """A client with a will on n1 loses its connection without DISCONNECT: subscribers on n2 get the will
        ([MQTT-3.1.2-8])."""
        for version in (V311, V5):
            with self.subTest(version=version):
                topic = unique("will/")
                sub = self.client(1, version)
                sub.subscribe(topic, 1)
                dying = self.client(0, version, connect=False)
                dying.c.will_set(topic, b"gone", qos=1)
                dying.connect()
                self.wait_routed(dying, topic, 1, [sub])
                dying.drop()
                got = real(sub.wait_payload(b"gone", WAIT_S))
                self.assertEqual([m.payload for m in got], [b"gone"])

    # -- $SYS ----------------------------------------------------------------------------------------------------
    def test_sys_topics_name_their_node(self):
        """$SYS/broker/... is per node: $SYS/broker/node names the node that publishes it; $SYS/broker/cluster/...
        shows the link up and the three nodes alive."""
        names = [n.name for n in self.cluster.nodes]
        for node, name in enumerate(names):
            c = self.client(node, V311)
            c.subscribe("$SYS/broker/#", 0)
            want = {"$SYS/broker/node": name, "$SYS/broker/cluster/link": "connected",
                    "$SYS/broker/cluster/nodes": str(len(names))}
            want.update({f"$SYS/broker/cluster/nodes/{n}/state": "up" for n in names})

            def latest(c=c):
                with c.cond:
                    return {m.topic: m.payload.decode(errors="replace") for m in c.messages}
            wait_until(lambda: all(latest().get(k) == v for k, v in want.items()), WAIT_S,
                       f"on {name}: {want}", lambda: f"latest: {latest()}")
            c.disconnect()

if __name__ == "__main__":
    from broker import take_mothd_from_argv
    take_mothd_from_argv()
    unittest.main()
