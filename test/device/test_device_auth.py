"""The virtual device with MQTT credentials against mothd with a password file and an ACL (issue 18).

The sketches are plain Arduino code for EspMQTTClient's constructor with a user name and password,
EspMQTTClient(ssid, wifi password, broker, user, password, client id, port), run unchanged by `moth device`:

- sketches/credentials-device: user device01 with the right password; each round it publishes on another device's
  topic (devices/device02/telemetry) and then on its own (devices/device01/telemetry);
- sketches/wrong-password-device: the same user with one letter of the password wrong.

mothd gets a password file with an argon2id entry for the device (`moth passwd -c -b`) and a PBKDF2 entry for the
dashboard (Debian's mosquitto_passwd), and an ACL that gives each device user devices/<user>/# through one pattern
and lets the dashboard read every device and the $SYS client counters. Anonymous clients are refused.

Every wait is on a serial line or an MQTT message, with a deadline; ports are read back from mothd.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import device_util
from broker import Broker, BrokerTestCase
from device_util import DeviceTestCase
from pahoclient import Client

WAIT_S = 30
SKETCHES = os.path.join(device_util.HERE, "sketches")
GOOD_SKETCH = os.path.join(SKETCHES, "credentials-device", "credentials-device.ino")
WRONG_SKETCH = os.path.join(SKETCHES, "wrong-password-device", "wrong-password-device.ino")

DEVICE_USER, DEVICE_PASSWORD = "device01", "device01-secret"  # as in credentials-device.ino
DASHBOARD_USER, DASHBOARD_PASSWORD = "dashboard", "dashboard-pw"

ACL = """# no anonymous section: anonymous clients are refused anyway (no allow_anonymous in the config)
user dashboard
topic read devices/#
topic read $SYS/broker/clients/#

# every device user: its own subtree, nothing else
pattern readwrite devices/%u/#
"""

OWN_TOPIC = "devices/device01/telemetry"
OTHER_TOPIC = "devices/device02/telemetry"
DENIED = "$SYS/broker/clients/denied"
AUTH_FAILED = "$SYS/broker/clients/auth_failed"


def setUpModule():
    device_util.build(GOOD_SKETCH)
    device_util.build(WRONG_SKETCH)


class DeviceCredentialsTest(BrokerTestCase, DeviceTestCase):
    def setUp(self):
        unittest.TestCase.setUp(self)
        files = tempfile.mkdtemp(prefix="moth-device-auth-")
        self.addCleanup(shutil.rmtree, files, ignore_errors=True)
        passwd, acl = os.path.join(files, "passwd"), os.path.join(files, "acl")
        subprocess.run([device_util.moth_path(), "passwd", "-c", "-b", passwd, DEVICE_USER, DEVICE_PASSWORD],
                       check=True, timeout=WAIT_S)
        subprocess.run(["mosquitto_passwd", "-b", passwd, DASHBOARD_USER, DASHBOARD_PASSWORD], check=True,
                       timeout=WAIT_S)
        with open(acl, "w", encoding="utf-8") as f:
            f.write(ACL)
        # anonymous=None: the config has no allow_anonymous, so a config file refuses anonymous clients.
        self.broker = Broker(extra_toml=f'[auth]\npassword_file = "{passwd}"\nacl_file = "{acl}"\n', anonymous=None)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def dashboard(self, *topics):
        c = Client(self.port, client_id="dashboard")
        c.c.username_pw_set(DASHBOARD_USER, DASHBOARD_PASSWORD)
        self.addCleanup(c.stop)
        c.connect()
        for t in topics:
            self.assertEqual(c.subscribe(t, qos=0), [0], f"SUBACK for {t}")
        return c

    @staticmethod
    def counter_at_least(client, topic, n):
        """A predicate for Client.wait: some $SYS message on `topic` says at least n (published every second)."""
        return lambda: any(m.topic == topic and int(m.payload) >= n for m in client.messages)

    def test_telemetry_with_credentials_arrives_and_other_topics_are_denied(self):
        dash = self.dashboard("devices/#", DENIED)
        dev = self.start_device(GOOD_SKETCH, self.port, "--speed", "10", "--sensor", "temperature=24",
                                "--sensor", "noise=0", "--sensor", "drift=0")
        dev.wait_line(r'^MQTT: Connecting to broker "broker\.example" with client name "device01" .* - ok\.', WAIT_S)

        def own(n):
            return lambda: [m for m in dash.messages if m.topic == OWN_TOPIC and json.loads(m.payload)["seq"] >= n]

        dash.wait(own(3), f"three readings on {OWN_TOPIC}")
        # Each round the device publishes on OTHER_TOPIC before OWN_TOPIC, on one connection: had mothd routed the
        # denied message of a round, the dashboard (subscribed to devices/#) would have it before that round's own.
        with dash.cond:
            received = list(dash.messages)
        device_topics = [m.topic for m in received if m.topic.startswith("devices/")]
        self.assertNotIn(OTHER_TOPIC, device_topics, "the ACL lets device01 write only devices/device01/#")
        self.assertEqual(device_topics[0], "devices/device01/status")  # onConnectionEstablished(), allowed too
        readings = [json.loads(m.payload) for m in received if m.topic == OWN_TOPIC]
        self.assertEqual([r["seq"] for r in readings], list(range(1, len(readings) + 1)))
        self.assertEqual({r["temp"] for r in readings}, {24.0})
        for r in readings:  # what arrived is what the sketch printed it sent
            dev.wait_line(rf'^Sent \{{"seq":{r["seq"]},"temp":24\.00\}}$', WAIT_S)
        # mothd counted the denials (one per round, at least up to the third) and logged who was denied what.
        dash.wait(self.counter_at_least(dash, DENIED, 3), f"{DENIED} >= 3")
        self.assertIn(f"denied PUBLISH to {OTHER_TOPIC} to device01 from ", self.broker.log())

    def test_wrong_password_is_refused_and_counted(self):
        dash = self.dashboard("devices/#", AUTH_FAILED)
        dev = self.start_device(WRONG_SKETCH, self.port, "--speed", "10")
        # CONNACK return code 4 (bad user name or password), as PubSubClient reports it; then EspMQTTClient waits
        # its reconnection delay and is refused again.
        refused = r"unable to connect \([\d.]+s\), reason: MQTT_CONNECT_BAD_CREDENTIALS$"
        i, _, _ = dev.wait_line(refused, WAIT_S)
        dev.wait_line(r"^MQTT: Retrying to connect in 15 seconds\.$", WAIT_S, i)
        dev.wait_line(refused, WAIT_S, i + 1)
        dash.wait(self.counter_at_least(dash, AUTH_FAILED, 2), f"{AUTH_FAILED} >= 2")
        self.assertEqual(dev.count(r" - ok\."), 0, "the device must never be connected")
        with dash.cond:
            self.assertEqual([m.topic for m in dash.messages if m.topic.startswith("devices/")], [])


if __name__ == "__main__":
    unittest.main()
