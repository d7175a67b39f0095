"""The example sketches, unchanged, as virtual devices (`moth device`) against the real mothd.

Time runs faster with --speed so that the course sketch's 5 s interval and EspMQTTClient's 15 s reconnection delay
take a fraction of that; every wait is on a serial line or an MQTT message, with a deadline.
"""

import itertools
import os
import signal
import time
import unittest

import device_util
from broker import Broker, BrokerTestCase
from device_util import COURSE_SKETCH, FEATURES_SKETCH, DeviceTestCase
from pahoclient import Client

WAIT_S = 30


PUBSUB_SKETCH = os.path.join(device_util.HERE, "sketches", "pubsubclient-basic", "pubsubclient-basic.ino")


def setUpModule():
    device_util.build(COURSE_SKETCH)
    device_util.build(FEATURES_SKETCH)
    device_util.build(PUBSUB_SKETCH)


class CourseSketchTest(BrokerTestCase, DeviceTestCase):
    def subscriber(self, *topics):
        c = Client(self.port)
        self.addCleanup(c.stop)
        c.connect()
        for t in topics:
            c.subscribe(t, qos=0)
        return c

    def test_readings_arrive_formatted_with_two_decimals(self):
        sub = self.subscriber("mytopic/#")
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10", "--seed", "7", "--sensor", "temperature=24",
                                "--sensor", "humidity=40", "--sensor", "noise=0", "--sensor", "drift=0")
        dev.wait_line(r'^MQTT: Connecting to broker "broker\.hivemq\.com" with client name "TEST" .* - ok\.', WAIT_S)
        msgs = sub.wait(lambda: len([m for m in sub.messages if m.topic == "mytopic/humid"]) >= 3 and sub.messages,
                        "three readings on mytopic/humid")
        temps = [m for m in msgs if m.topic == "mytopic/temp"]
        humids = [m for m in msgs if m.topic == "mytopic/humid"]
        self.assertGreaterEqual(len(temps), 3)
        for m in temps + humids:
            self.assertRegex(m.payload.decode(), r"^-?\d+\.\d\d$")
            self.assertEqual(m.qos, 0)
            self.assertFalse(m.retain)
        # DHT11: whole degrees and percents, no noise or drift asked for: exactly the means.
        self.assertEqual({m.payload for m in temps}, {b"24.00"})
        self.assertEqual({m.payload for m in humids}, {b"40.00"})
        # The serial monitor shows Arduino's float formatting (two decimals) and the library's messages.
        dev.wait_line(r"^Humidity : 40\.00$", WAIT_S)
        dev.wait_line(r"^Temperature : 24\.00$", WAIT_S)
        dev.wait_line(r"^MQTT << \[mytopic/temp\] 24\.00$", WAIT_S)

    def test_reading_interval_is_five_simulated_seconds(self):
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10")
        i, t0, _ = dev.wait_line(r"^Humidity : ", WAIT_S)
        i, _, _ = dev.wait_line(r"^Humidity : ", WAIT_S, i + 1)
        _, t2, _ = dev.wait_line(r"^Humidity : ", WAIT_S, i + 1)
        # 5 s of sketch time at --speed 10 is 0.5 s; allow for a loaded machine.
        self.assertGreaterEqual(t2 - t0, 2 * 0.5 * 0.9)
        self.assertLess(t2 - t0, 2 * 0.5 + 1.0)

    def test_will_is_published_when_the_device_is_killed(self):
        sub = self.subscriber("TestClient/lastwill")
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10")
        dev.wait_line(r" - ok\.", WAIT_S)
        dev.signal(signal.SIGKILL)
        msgs = sub.wait_payload(b"I am going offline", WAIT_S)
        self.assertEqual(msgs[-1].topic, "TestClient/lastwill")

    def test_sigterm_cuts_the_power_and_the_will_is_published(self):
        sub = self.subscriber("TestClient/lastwill")
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10")
        dev.wait_line(r" - ok\.", WAIT_S)
        dev.signal(signal.SIGTERM)
        self.assertEqual(dev.wait_exit(WAIT_S), 0)
        sub.wait_payload(b"I am going offline", WAIT_S)

    def test_disconnect_on_exit_leaves_cleanly_without_will(self):
        sub = self.subscriber("TestClient/lastwill", "marker")
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10", "--disconnect-on-exit")
        dev.wait_line(r" - ok\.", WAIT_S)
        dev.signal(signal.SIGINT)
        self.assertEqual(dev.wait_exit(WAIT_S), 0)
        # A will would be published when the connection closed, before this marker is even sent.
        pub = Client(self.port)
        self.addCleanup(pub.stop)
        pub.connect()
        pub.publish("marker", b"after", qos=1)
        msgs = sub.wait_payload(b"after", WAIT_S)
        self.assertEqual([m.topic for m in msgs], ["marker"])

    def test_fleet_ids_are_unique_and_prefix_the_serial_monitor(self):
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10", "--count", "3")
        for n in (1, 2, 3):
            dev.wait_line(rf'^\[TEST-000{n}\] MQTT: Connecting to broker .* client name "TEST-000{n}" .* - ok\.', WAIT_S)
            dev.wait_line(rf"^\[TEST-000{n}\] Humidity : \d+\.00$", WAIT_S)

    def test_client_id_option_overrides_the_sketch(self):
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10", "--client-id", "room-42")
        dev.wait_line(r'client name "room-42" .* - ok\.', WAIT_S)

    def test_csv_readings_are_replayed(self):
        sub = self.subscriber("mytopic/#")
        csv = os.path.join(self.broker.dir, "readings.csv")
        with open(csv, "w") as f:
            f.write("seconds,temperature,humidity\n0,21.2,30\n10,25.7,35\n")
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10", "--sensor", f"csv={csv}")
        # Readings at 5 s (first row) and from 10 s on (second row), DHT11 steps; after 20 s the file starts over.
        sub.wait_payload(b"21.00", WAIT_S)
        sub.wait_payload(b"30.00", WAIT_S)
        sub.wait_payload(b"26.00", WAIT_S)
        sub.wait_payload(b"35.00", WAIT_S)
        dev.wait_line(r"^Temperature : 26\.00$", WAIT_S)
        self.assertIn("connections to broker.hivemq.com:1883 go to 127.0.0.1:", dev.stderr_text())

    def test_failed_reads_print_the_sketch_message(self):
        dev = self.start_device(COURSE_SKETCH, self.port, "--speed", "10", "--sensor", "failure-rate=1")
        dev.wait_line(r"^Failed to read from DHT sensor!$", WAIT_S)
        self.assertEqual(dev.count(r"^Humidity"), 0)


class FeaturesSketchTest(BrokerTestCase, DeviceTestCase):
    def test_messages_reach_plain_and_wildcard_callbacks(self):
        dev = self.start_device(FEATURES_SKETCH, self.port, "--speed", "10")
        dev.wait_line(r"^MQTT: Subscribed to \[mytopic/config/#\]$", WAIT_S)
        pub = Client(self.port)
        self.addCleanup(pub.stop)
        pub.connect()
        # The sketch prints "Subscribed to" when it sends a SUBSCRIBE, not when the broker has it: probe the last
        # filter until the device sees a probe (a connection's SUBSCRIBEs apply in order, so the others are in force).
        deadline = time.monotonic() + WAIT_S
        for n in itertools.count(1):
            pub.publish("mytopic/config/probe", str(n).encode(), qos=0)
            try:
                dev.wait_line(rf"^config mytopic/config/probe = {n}$", 0.5)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        pub.publish("mytopic/room/kitchen/command", b"heat", qos=1)
        dev.wait_line(r"^MQTT >> \[mytopic/room/kitchen/command\] heat$", WAIT_S)
        dev.wait_line(r"^command for mytopic/room/kitchen/command: heat$", WAIT_S)
        pub.publish("mytopic/config/a/b", b"7", qos=0)
        dev.wait_line(r"^config mytopic/config/a/b = 7$", WAIT_S)
        pub.publish("mytopic/led", b"on", qos=0)
        dev.wait_line(r"^LED is on$", WAIT_S)
        pub.publish("mytopic/test", b"hello", qos=0)
        dev.wait_line(r"^test says: hello$", WAIT_S)
        # '+' is one level only: not delivered to the room callback.
        pub.publish("mytopic/room/a/b/command", b"no", qos=0)
        pub.publish("mytopic/test", b"sync", qos=0)
        dev.wait_line(r"^test says: sync$", WAIT_S)
        self.assertEqual(dev.count(r"^command for mytopic/room/a/b/command"), 0)

    def test_delayed_publish_and_retained_will(self):
        sub = Client(self.port)
        self.addCleanup(sub.stop)
        sub.connect()
        sub.subscribe("mytopic/#", qos=0)
        dev = self.start_device(FEATURES_SKETCH, self.port, "--speed", "10")
        _, t_ok, _ = dev.wait_line(r" - ok\.", WAIT_S)
        sub.wait_payload(b"online", WAIT_S)
        sub.wait_payload(b"This message was published 5 seconds after connecting", WAIT_S)
        dev.signal(signal.SIGKILL)
        msgs = sub.wait_payload(b"offline", WAIT_S)
        self.assertEqual(msgs[-1].topic, "mytopic/status")

    def test_long_message_is_truncated_with_the_library_warning(self):
        # Retained and published before the device starts: its "Subscribed to" line is printed when the SUBSCRIBE
        # is sent, not when the broker has it, so a message published on seeing that line could come first.
        pub = Client(self.port)
        self.addCleanup(pub.stop)
        pub.connect()
        # The sketch sets setMaxPacketSize(512): topic + payload + 9 reaching it cuts the payload's last byte.
        payload = b"x" * (512 - len("mytopic/test") - 9 - 1) + b"Z"
        pub.publish("mytopic/test", payload, qos=1, retain=True)
        dev = self.start_device(FEATURES_SKETCH, self.port, "--speed", "10")
        dev.wait_line(r"^MQTT! Your message may be truncated, please set setMaxPacketSize\(\) to a higher value\.$",
                      WAIT_S)
        _, _, m = dev.wait_line(r"^test says: (x+)(Z?)$", WAIT_S)
        self.assertEqual(m.group(2), "")

    def test_reconnects_after_broker_restart_with_the_library_delay(self):
        speed = 10
        dev = self.start_device(FEATURES_SKETCH, self.port, "--speed", str(speed))
        i, _, _ = dev.wait_line(r"^MQTT: Subscribed to \[mytopic/config/#\]$", WAIT_S)
        port = self.port
        self.broker.stop()
        i, _, lost = dev.wait_line(r"^MQTT! Lost connection \(([\d.]+)s\)", WAIT_S, i)
        dev.wait_line(r"^MQTT: Retrying to connect in 15 seconds", WAIT_S, i)
        # The same port again: a device keeps the broker address it was given.
        restarted = Broker(overrides=[f"listener.0.port={port}"])
        self.addCleanup(restarted.cleanup)
        self.addCleanup(restarted.stop)
        restarted.start()
        self.assertEqual(restarted.port, port)
        attempts = []
        j = i
        while True:
            j, _, m = dev.wait_line(r'^MQTT: Connecting to broker .*? \(([\d.]+)s\)(.*)$', WAIT_S, j + 1)
            attempts.append(float(m.group(1)))
            if " - ok." in m.group(2):
                break
            self.assertLess(len(attempts), 10, dev.describe())
        # EspMQTTClient waits 15 s (of sketch time) after losing the connection and between failed attempts.
        previous = float(lost.group(1))
        for t in attempts:
            self.assertGreaterEqual(t - previous, 15.0)
            self.assertLess(t - previous, 15.0 + 5.0)  # 0.5 s of real time for a loaded machine
            previous = t
        # onConnectionEstablished() runs again: subscriptions are back and work.
        dev.wait_line(r"^MQTT: Subscribed to \[mytopic/config/#\]$", WAIT_S, j)
        pub = Client(port)
        self.addCleanup(pub.stop)
        pub.connect()
        pub.publish("mytopic/led", b"on", qos=1)
        dev.wait_line(r"^LED is on$", WAIT_S, j)


class PubSubClientSketchTest(BrokerTestCase, DeviceTestCase):
    def test_classic_api_sketch_with_late_defined_functions(self):
        sub = Client(self.port)
        self.addCleanup(sub.stop)
        sub.connect()
        sub.subscribe("outTopic", qos=0)
        sub.subscribe("device/status", qos=0)
        dev = self.start_device(PUBSUB_SKETCH, self.port, "--speed", "10")
        dev.wait_line(r"^WiFi connected$", WAIT_S)
        dev.wait_line(r"^10\.77\.0\.2$", WAIT_S)
        dev.wait_line(r"^Attempting MQTT connection\.\.\.connected$", WAIT_S)
        sub.wait_payload(b"hello world", WAIT_S)
        sub.wait_payload(b"hello world #2", WAIT_S)
        pub = Client(self.port)
        self.addCleanup(pub.stop)
        pub.connect()
        pub.publish("inTopic", b"hi there", qos=1)  # the sketch subscribed with QoS 1: it acknowledges
        dev.wait_line(r"^Message arrived \[inTopic\] hi there$", WAIT_S)
        dev.signal(signal.SIGKILL)
        msgs = sub.wait_payload(b"gone", WAIT_S)  # its will, QoS 1, retained
        self.assertEqual(msgs[-1].topic, "device/status")


if __name__ == "__main__":
    unittest.main()
