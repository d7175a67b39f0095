"""Across clients and protocol versions: paho and mosquitto clients of different MQTT versions talk through mothd."""

import unittest

import broker
from broker import BrokerTestCase
from mosq import Session, unique
from pahoclient import V5, ClientFactory, publish_props


class CrossClient(BrokerTestCase):
    def setUp(self):
        super().setUp()
        self.m = Session(self, self.port)
        self.f = ClientFactory(self, self.port)

    def test_paho_v5_with_properties_to_mosquitto_sub_v31(self):
        """A paho MQTT 5 PUBLISH with user properties, response topic and message expiry reaches an MQTT 3.1
        mosquitto_sub as a plain 3.1 PUBLISH: same topic, payload and QoS, no properties (3.1 has none)."""
        topic = unique("x31/")
        s = self.m.sub("mqttv31", [topic], "-q", "2")
        pub = self.f.connected(V5)
        pub.publish(topic, b"from-paho-v5", qos=2, properties=publish_props(
            UserProperty=[("k", "v"), ("k2", "v2")], ResponseTopic="r/t", MessageExpiryInterval=60))
        (r,) = s.wait_records(1)
        self.assertEqual((r.topic, r.payload, r.qos, r.props, r.response, r.expiry),
                         (topic, "from-paho-v5", "2", "", "", ""), r)

    def test_paho_v5_user_properties_to_mosquitto_sub_v5(self):
        """The same paho 5 PUBLISH reaches an MQTT 5 mosquitto_sub with its user properties in order."""
        topic = unique("x5/")
        s = self.m.sub("mqttv5", [topic], "-q", "1")
        self.f.connected(V5).publish(topic, b"p", qos=1, properties=publish_props(
            UserProperty=[("b", "1"), ("a", "2"), ("b", "3")]))
        (r,) = s.wait_records(1)
        self.assertEqual((r.payload, r.props), ("p", "b:1 a:2 b:3"), r)

    def test_mosquitto_pub_v311_to_paho_v5(self):
        """mosquitto_pub -V mqttv311 at QoS 0, 1, 2 reaches a paho MQTT 5 subscriber with the payload, a QoS of
        min(publish, subscription) and no user properties; a retained 3.1.1 message reaches it with retain set."""
        topic = unique("x311/")
        sub = self.f.connected(V5)
        sub.subscribe(topic, 2)
        for q in (0, 1, 2):
            self.m.pub("mqttv311", "-t", topic, "-q", str(q), "-m", f"m{q}")
            (m,) = [m for m in sub.wait_payload(f"m{q}".encode()) if m.payload == f"m{q}".encode()]
            self.assertEqual((m.topic, m.qos, m.retain), (topic, q, False))
            self.assertIsNone(getattr(m.properties, "UserProperty", None))
        rtopic = unique("x311r/")
        self.m.pub("mqttv311", "-t", rtopic, "-q", "1", "-r", "-m", "kept")
        late = self.f.connected(V5)
        late.subscribe(rtopic, 1)
        (m,) = late.wait_messages(1)
        self.assertEqual((m.topic, m.payload, m.retain), (rtopic, b"kept", True))

    def test_mosquitto_v31_will_to_paho_v5(self):
        """The will of a killed MQTT 3.1 mosquitto_sub reaches a paho MQTT 5 subscriber."""
        wt = unique("xw/")
        watcher = self.f.connected(V5)
        watcher.subscribe(wt, 1)
        victim = self.m.sub("mqttv31", [unique("xo/")], "--will-topic", wt, "--will-payload", "v31-gone",
                            "-i", unique("xw"))
        victim.kill()
        (m,) = watcher.wait_messages(1)
        self.assertEqual((m.topic, m.payload), (wt, b"v31-gone"))


if __name__ == "__main__":
    broker.take_mothd_from_argv()
    unittest.main()
