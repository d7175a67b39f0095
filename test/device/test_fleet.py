"""A fleet of 1,000 course devices in one `moth device` process against mothd for a minute of real time.

--speed 3 makes the sketch's 5 s interval 1.67 s, so every device publishes about 35 readings on each topic.
Checked: every device connects (its own serial line, distinct client ids, and $SYS/broker/clients/connected),
every reading a device reports as published reaches the subscriber (per topic: the sum over devices of their
"MQTT << [topic]" lines arrived, plus at most the one each device had in flight when the power was cut), each device published several readings, and when --duration ends
(a power cut) the broker publishes all 1,000 wills.
"""

import collections
import os
import re
import threading
import unittest

import device_util
from broker import BrokerTestCase
from device_util import COURSE_SKETCH, DeviceTestCase
from pahoclient import Client

COUNT = int(os.environ.get("MOTH_FLEET_COUNT", "1000"))
DURATION_S = float(os.environ.get("MOTH_FLEET_SECONDS", "60"))
SPEED = 3


def setUpModule():
    device_util.build(COURSE_SKETCH)


class Counter:
    """Counts messages per topic on paho's thread (keeping 70,000 message objects would be wasteful)."""

    def __init__(self, port):
        self.client = Client(port, client_id="fleet-counter")
        self.counts = collections.Counter()
        self.max_connected = 0
        self.lock = threading.Lock()
        self.client.c.on_message = self._on_message

    def _on_message(self, client, userdata, msg):
        with self.lock:
            if msg.topic == "$SYS/broker/clients/connected":
                self.max_connected = max(self.max_connected, int(msg.payload))
            else:
                self.counts[msg.topic] += 1
        with self.client.cond:
            self.client.cond.notify_all()


class FleetTest(BrokerTestCase, DeviceTestCase):
    def test_thousand_devices_for_a_minute(self):
        counter = Counter(self.port)
        self.addCleanup(counter.client.stop)
        counter.client.connect()
        counter.client.subscribe("mytopic/#", qos=0)
        counter.client.subscribe("TestClient/lastwill", qos=0)
        counter.client.subscribe("$SYS/broker/clients/connected", qos=0)

        dev = self.start_device(COURSE_SKETCH, self.port, "--count", str(COUNT), "--speed", str(SPEED),
                                "--duration", str(DURATION_S), "--no-pin-log", "--seed", "1")
        self.assertEqual(dev.wait_exit(DURATION_S + 60), 0)
        dev.reader.join(timeout=30)
        lines = dev.text_lines()

        width = max(4, len(str(COUNT)))
        ids = [f"TEST-{n:0{width}d}" for n in range(1, COUNT + 1)]
        connected = set()
        connects = 0  # "- ok." lines: a device whose connection was lost (a keepalive missed under load) connects again
        # Every attempt, answered or not: under load a CONNACK can come after the sketch gave up waiting for it, so
        # the broker accepted a connection the device reports as failed; that connection's end publishes a will too.
        attempts = 0
        rx_try = re.compile(r'^\[(TEST-\d+)\] MQTT: Connecting to broker ')
        published = {"mytopic/temp": collections.Counter(), "mytopic/humid": collections.Counter()}
        rx_ok = re.compile(r'^\[(TEST-\d+)\] MQTT: Connecting to broker .*client name "(TEST-\d+)" .* - ok\.')
        rx_pub = re.compile(r"^\[(TEST-\d+)\] MQTT << \[(mytopic/\w+)\] (-?\d+\.\d\d)$")
        for line in lines:
            if rx_try.match(line):
                attempts += 1
            m = rx_ok.match(line)
            if m:
                self.assertEqual(m.group(1), m.group(2))
                connected.add(m.group(1))
                connects += 1
                continue
            m = rx_pub.match(line)
            if m:
                published[m.group(2)][m.group(1)] += 1

        missing = [i for i in ids if i not in connected]
        self.assertEqual(missing, [], f"{len(missing)} devices never connected")
        for topic, per_device in published.items():
            few = {i: per_device[i] for i in ids if per_device[i] < 5}
            self.assertEqual(few, {}, f"devices with fewer than 5 readings on {topic}")

        # Everything the devices published arrives (QoS 0 on loopback: nothing may be lost), and every will.
        expected = {topic: sum(c.values()) for topic, c in published.items()}
        expected["TestClient/lastwill"] = COUNT

        def all_arrived():
            with counter.lock:
                return all(counter.counts[t] >= n for t, n in expected.items())


        counter.client.wait(all_arrived, f"{expected} messages", timeout=30)
        with counter.lock:
            got = {t: counter.counts[t] for t in expected}
            max_connected = counter.max_connected
        # A power cut can fall between a device's publish and its "MQTT << ..." line: at most one such reading
        # per device arrives without having been reported.
        # A will per connection that ended without DISCONNECT, never more: every device's last one (the power cut),
        # plus one per connection lost earlier (the device then connected again).
        for topic, n in expected.items():
            self.assertGreaterEqual(got[topic], n, topic)
            most = n + COUNT if topic.startswith("mytopic/") else attempts
            self.assertLessEqual(got[topic], most, topic)
        # $SYS (every second): all devices were connected at once, plus this subscriber.
        self.assertGreaterEqual(max_connected, COUNT + 1)
        total = sum(expected.values()) - COUNT
        print(f"\nfleet: {COUNT} devices, {total} readings delivered in {DURATION_S:.0f} s", flush=True)


if __name__ == "__main__":
    unittest.main()
