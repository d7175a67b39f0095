"""A Moth cluster (issue 23) losing parts of itself under QoS 1/2 traffic: a nats-server of the three killed, a mothd
node killed with SIGKILL (helpers in clustertest.py). Routing, retained, take-over, wills: test_cluster.py.

The promise checked: every message whose publisher got a PUBACK (QoS 1) or PUBCOMP (QoS 2) with a success code is
delivered to the subscriber, QoS 2 exactly once. A publish refused with an error code (JetStream did not confirm it
within ack_timeout_ms) is published again by the test, as a client would.
"""

import time
import unittest

from clustertest import ClusterTestCase, no_reconnect, real, track_reasons
from mosq import unique
from pahoclient import V5, V311, PacketTypes, props

WAIT_S = 60  # a JetStream leader election plus redelivery on a loaded 2-core machine


class Traffic:
    """A publisher's accepted messages: publish() retries a refused message until it is accepted or the deadline."""

    def __init__(self, publisher, base):
        self.publisher = track_reasons(publisher)
        self.base = base
        self.accepted = {}  # payload -> QoS

    def publish(self, payload, qos, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            mid = self.publisher.publish(f"{self.base}/{qos}", payload, qos)
            with self.publisher.cond:
                code = self.publisher.reasons.get(mid, 0)
            if code < 0x80:
                self.accepted[payload] = qos
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{payload!r} refused (reason {code:#x}) until the deadline")

    def run(self, prefix, count):
        """count messages, QoS 1 and 2 alternately."""
        for i in range(count):
            qos = 1 + i % 2
            self.publish(f"{prefix}-q{qos}-{i}".encode(), qos)


def check_delivered(testcase, traffic, clients, timeout=WAIT_S):
    """Every accepted message arrived at one of `clients` (the subscriber's connections in turn); QoS 2 ones once."""
    def got():
        out = []
        for c in clients:
            with c.cond:
                out += [m.payload for m in real(c.messages)]
        return out
    deadline = time.monotonic() + timeout
    while not set(traffic.accepted) <= set(got()):
        if time.monotonic() > deadline:
            missing = sorted(set(traffic.accepted) - set(got()))
            testcase.fail(f"{len(missing)} of {len(traffic.accepted)} acknowledged messages not delivered: "
                          f"{missing[:20]}")
        time.sleep(0.05)  # polling interval of a condition wait
    received = got()
    twice = sorted(p for p, q in traffic.accepted.items() if q == 2 and received.count(p) != 1)
    testcase.assertEqual(twice, [], "QoS 2 messages delivered more than once ([MQTT-4.3.3-2] exactly once)")


class TestNatsServerLoss(ClusterTestCase):
    """One of the three nats-servers killed during QoS 1 traffic; each mothd has all three URLs."""

    def test_kill_one_nats_server(self):
        base = unique("natsloss/")
        publisher = self.client(0, V5)
        subs = [self.client(i, V5) for i in (1, 2)]
        for s in subs:
            s.subscribe(base + "/#", 1)
        self.wait_routed(publisher, base + "/probe", 1, subs)
        traffic = Traffic(publisher, base)
        for i in range(30):
            traffic.publish(f"before-{i}".encode(), 1)
        # The server the publisher's node is on (NATS' client picks one of its list at random): n1 must move.
        n1 = self.cluster.nodes[0]
        link = n1.cluster_status()["link"]
        victim = [i for i, s in enumerate(self.cluster.nats.servers) if s.url == link["server"]]
        self.assertEqual(len(victim), 1, f"n1's NATS server {link} is one of ours")
        self.cluster.nats.kill(victim[0])
        for i in range(30):
            traffic.publish(f"after-{i}".encode(), 1)
        for s in subs:
            check_delivered(self, traffic, [s])
        after = n1.cluster_status()["link"]
        self.assertTrue(after["connected"], f"n1's link after the kill: {after}")
        self.assertNotEqual(after["server"], link["server"], "n1 moved to another NATS server")
        self.assertGreaterEqual(after["reconnects"], link["reconnects"] + 1, f"{link} -> {after}")
        self.cluster.nats.start_one(victim[0])  # and back, so the cluster stops cleanly
        self.cluster.nats.wait_ready()


class TestNodeLoss(ClusterTestCase):
    """kill -9 of the mothd holding a persistent subscriber, during QoS 1 and QoS 2 traffic from another node."""

    per_test_cluster = True

    def persistent_subscriber(self, node, version, cid, base):
        if version == V5:
            c = no_reconnect(self.client(node, V5, client_id=cid, connect=False))
            c.connect(clean_start=True, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=600))
        else:
            c = no_reconnect(self.client(node, V311, client_id=cid, clean_session=False, connect=False))
            c.connect()
        c.subscribe(base + "/1", 1)
        c.subscribe(base + "/2", 2)
        return c

    def reconnect(self, client, node):
        """The same paho client (its QoS 2 receive state kept) connects to `node` with its session."""
        client.stop()
        client.port = self.cluster.port(node)
        if client.version == V5:
            kw = {"clean_start": False, "properties": props(PacketTypes.CONNECT, SessionExpiryInterval=600)}
        else:
            kw = {}
        return client.connect(**kw)

    def kill_during_traffic(self, version, move_to):
        base, cid = unique("nodeloss/"), unique("persist-")
        sub = self.persistent_subscriber(2, version, cid, base)
        publisher = self.client(0, V5)
        self.wait_routed(publisher, base + "/1", 1, [sub])
        self.wait_routed(publisher, base + "/2", 2, [sub])
        traffic = Traffic(publisher, base)
        traffic.run("before", 20)
        self.cluster.nodes[2].kill9()
        sub.wait(lambda: sub.disconnected is not None, "the connection to the killed node to end")
        traffic.run("while", 20)
        if move_to == 2:
            self.cluster.nodes[2].restart()
        connack = self.reconnect(sub, move_to)
        traffic.run("after", 20)
        check_delivered(self, traffic, [sub])
        return connack

    def test_kill9_node_restarted(self):
        """The killed node comes back (same name, same data_dir) and the subscriber (3.1.1, clean session 0)
        reconnects to it: its session is there ([MQTT-3.2.2-2] session present) and nothing acknowledged is lost."""
        connack = self.kill_during_traffic(V311, move_to=2)
        self.assertTrue(connack[0].get("session present"), f"CONNACK {connack}: session present")

    def test_kill9_subscriber_moves_to_another_node(self):
        """The killed node stays down; the subscriber (5.0, session expiry 600 s) reconnects to n2: its session is
        there (subscriptions, queue, QoS 2 state, from the cluster's copy) and every message the publisher got a
        PUBACK/PUBCOMP for is delivered, QoS 2 exactly once."""
        connack = self.kill_during_traffic(V5, move_to=1)
        self.assertTrue(connack[0].get("session present"), f"CONNACK {connack}: session present")

    def test_kill9_subscriber_moves_to_another_node_311(self):
        """As above for MQTT 3.1.1 (clean session 0), moving to n1, the publisher's node."""
        connack = self.kill_during_traffic(V311, move_to=0)
        self.assertTrue(connack[0].get("session present"), f"CONNACK {connack}: session present")

if __name__ == "__main__":
    from broker import take_mothd_from_argv
    take_mothd_from_argv()
    unittest.main()
