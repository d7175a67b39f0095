"""Bridges between mothd and Debian's mosquitto 2.0.11 (issue 21, "Tests (real brokers)", first bullet).

- MothToMosquitto: mothd's [[bridge]] with mosquitto as the remote, protocol 3.1.1 and 5.0, over mqtt://, mqtts://
  (mosquitto's TLS listener, certificates from a test CA made here) and ws:// (mosquitto's websockets listener). One
  `out` rule with prefixes and one `in` rule: topics mapped, QoS downgraded to the rule's, the retain flag kept,
  MQTT 5 properties forwarded. Also: both ways on the same topics without prefixes, nothing echoed (3.1.1 with
  try_private, 5.0 with No Local); one publisher's order on one topic, both ways; a wrong CA keeps the link down with the reason in the log; the retained
  $SYS/broker/connection/<name>/state follows the remote; failover from a refused address to the next one.
- MosquittoToMoth: mosquitto's own bridge into mothd (`connection`, `address`, `topic sync/# both 1`,
  `try_private true`, `bridge_protocol_version mqttv311` and `mqttv50`): both ways, each message exactly once,
  retained messages retained on the other side; mothd lists the bridge's client in /api/v1/clients; over TCP and
  over mothd's mqtts listener (mosquitto 2.0.11 cannot bridge over WebSocket).

Every case starts its own brokers on 127.0.0.1: mothd on port 0 (ports read back from its ports file), mosquitto on
ports picked by bridgetest.free_port() (a tiny race, explained there). Checks use paho over plain TCP listeners;
only the bridge itself uses TLS or WebSocket. The bridge is known to be up from mothd's retained
$SYS/broker/connection/<name>/state = "1", published once both sides are connected and subscribed.
"""

import shutil
import tempfile
import unittest
import uuid

from bridgetest import (HTTP_LISTENER, WAIT_S, Mosquitto, StateWatch, api_get, bridge_toml, free_port,
                        wait_until)
from broker import HOST, Broker, take_mothd_from_argv
from listenertest import listener_ports, make_ca, make_cert
from pahoclient import V5, Client, publish_props

CERTS = {}  # setUpModule: the CA, mosquitto's server certificate and key, and an unrelated CA
RULES = ["# out 1 up/ cloud/up/", "# in 1 down/ cloud/down/"]  # local up/x <-> remote cloud/up/x, and back
FAST_RETRY = {"reconnect_min_ms": 100, "reconnect_max_ms": 400}  # failing attempts come quickly


def setUpModule():
    d = tempfile.mkdtemp(prefix="moth-bridge-certs-")
    unittest.addModuleCleanup(shutil.rmtree, d, ignore_errors=True)
    make_ca(d)
    make_cert(d, "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    other = tempfile.mkdtemp(dir=d)
    make_ca(other)  # same subject, another key: mosquitto's certificate does not chain to it
    CERTS.update(ca=f"{d}/ca.pem", cert=f"{d}/server.pem", key=f"{d}/server.key", wrong_ca=f"{other}/ca.pem")


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class BridgeCase(unittest.TestCase):
    """Starts brokers and clients that the test's cleanups stop; on failure prints every broker's log."""

    def setUp(self):
        super().setUp()
        self.processes = []

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for p in getattr(self, "processes", []):
                print(f"\n{self.id()} failed; {p.log_tail(80)}", flush=True)
        return out

    def mosquitto(self, conf, ports):
        m = Mosquitto(conf, ports)
        self.processes.append(m)
        self.addCleanup(m.cleanup)
        return m.start()

    def mothd(self, extra_toml=""):
        b = Broker(extra_toml=extra_toml)
        self.processes.append(b)
        self.addCleanup(b.cleanup)
        self.addCleanup(b.stop)  # asserts exit status 0 after SIGTERM
        b.start()
        return b

    def client(self, port, version=V5):
        c = Client(port, version)
        self.addCleanup(c.stop)
        c.connect()
        return c

    def watch(self, port, name):
        w = StateWatch(port, name)
        self.addCleanup(w.close)
        return w

    def logs(self):
        return "\n".join(p.log_tail(40) for p in self.processes)

    @staticmethod
    def received(client):
        with client.cond:
            return list(client.messages)

    @staticmethod
    def wait_payloads(client, payloads):
        """Waits until a message with each of these payloads arrived, in any order (MQTT orders one publisher's
        messages per topic only); returns {payload: message} of all received."""
        def arrived():
            got = {m.payload: m for m in client.messages}  # under client.cond: wait() holds it
            return got if all(p in got for p in payloads) else None
        return client.wait(arrived, f"messages {payloads}")

    def exchange_exactly_once(self, moth_port, mosq_port, count):
        """A bridge both ways on sync/# without prefixes, where an echo would loop: `count` QoS 1 messages
        published on each broker; a subscriber to sync/# on each must get every message exactly once."""
        on_moth, on_mosq = self.client(moth_port), self.client(mosq_port)
        on_moth.subscribe("sync/#", 1)
        on_mosq.subscribe("sync/#", 1)
        sent = []
        for i in range(count):
            on_moth.publish(f"sync/from-moth/{i}", f"m{i}".encode(), qos=1)
            on_mosq.publish(f"sync/from-mosq/{i}", f"q{i}".encode(), qos=1)
            sent += [f"m{i}".encode(), f"q{i}".encode()]
        for c in (on_moth, on_mosq):
            c.wait_messages(len(sent))
        # An echo of a message is queued by the broker that would echo it before that broker delivers the message
        # to our subscriber there (done above), so it precedes a marker published there afterwards on the same
        # bridge connection: once each marker crossed, every echo would have arrived.
        on_mosq.publish("sync/marker", b"marker-from-mosq", qos=1)
        on_moth.wait_payload(b"marker-from-mosq")
        on_moth.publish("sync/marker", b"marker-from-moth", qos=1)
        on_mosq.wait_payload(b"marker-from-moth")
        expected = sorted(sent + [b"marker-from-mosq", b"marker-from-moth"])
        for name, c in (("mothd", on_moth), ("mosquitto", on_mosq)):
            self.assertEqual(sorted(m.payload for m in self.received(c)), expected,
                             f"each message exactly once on {name}")


class MothToMosquitto(BridgeCase):
    """mothd's bridge, mosquitto the remote."""

    def remote(self, transport):
        """mosquitto with a plain listener for the test's clients and, for mqtts/ws, one for the bridge. Returns
        (plain port, the bridge's address)."""
        plain = free_port()
        conf = f"listener {plain} {HOST}\nallow_anonymous true\n"
        if transport == "mqtt":
            self.mosquitto(conf, [plain])
            return plain, f"mqtt://{HOST}:{plain}"
        port = free_port()
        if transport == "mqtts":
            conf += (f"listener {port} {HOST}\ncafile {CERTS['ca']}\ncertfile {CERTS['cert']}\n"
                     f"keyfile {CERTS['key']}\n")
        else:  # 2.0.11's websockets listener honours its bind address only with socket_domain
            conf += f"listener {port} {HOST}\nprotocol websockets\nsocket_domain ipv4\n"
        self.mosquitto(conf, [plain, port])
        return plain, f"{transport}://{HOST}:{port}" + ("/mqtt" if transport == "ws" else "")

    def link(self, transport, protocol, **keys):
        """mosquitto and a mothd bridged to it ("cloud", RULES); waits until the link is up. Returns (mothd port,
        mosquitto's plain port)."""
        plain, address = self.remote(transport)
        if transport == "mqtts":
            keys.setdefault("ca_file", CERTS["ca"])
        moth = self.mothd(bridge_toml("cloud", [address], RULES, protocol=protocol, **keys))
        self.watch(moth.port, "cloud").wait("1", describe=self.logs)
        return moth.port, plain

    def check_both_ways(self, transport, protocol):
        local_port, remote_port = self.link(transport, protocol)
        v5 = protocol == "5.0"
        remote = self.client(remote_port)
        remote.subscribe("cloud/#", 2)
        local = self.client(local_port)
        local.subscribe("down/#", 2)
        sent_props = dict(UserProperty=[("room", "7"), ("room", "8")], ContentType="text/plain",
                          ResponseTopic="replies/7", CorrelationData=b"\x00\x01corr", MessageExpiryInterval=300)

        # Out: up/x -> cloud/up/x, QoS 2 sent at the rule's 1; a retained one is retained on the remote, so a later
        # subscriber there gets it with the retain flag [MQTT-3.3.1-6].
        local.publish("up/a/b", b"out-q2", qos=2, properties=publish_props(**sent_props))
        local.publish("up/kept", b"out-retained", qos=1, retain=True)
        local.publish("elsewhere/x", b"not-bridged", qos=1)
        local.publish("up/end", b"out-end", qos=1)
        msgs = self.wait_payloads(remote, [b"out-q2", b"out-retained", b"out-end"])
        self.assertNotIn(b"not-bridged", msgs)
        self.assertEqual((msgs[b"out-q2"].topic, msgs[b"out-q2"].qos), ("cloud/up/a/b", 1))
        self.assertEqual(msgs[b"out-retained"].topic, "cloud/up/kept")
        if v5:
            self.check_props(msgs[b"out-q2"], sent_props)
        late = self.client(remote_port)
        late.subscribe("cloud/up/kept", 1)
        (kept,) = late.wait_messages(1)
        self.assertEqual((kept.topic, kept.payload, bool(kept.retain)), ("cloud/up/kept", b"out-retained", True))

        # In: cloud/down/x -> down/x, QoS 2 sent at the rule's 1 (the bridge's subscription QoS on the remote,
        # [MQTT-3.8.4-8]); a retained one is retained on mothd.
        remote.publish("cloud/down/c", b"in-q2", qos=2, properties=publish_props(**sent_props) if v5 else None)
        remote.publish("cloud/down/kept", b"in-retained", qos=1, retain=True)
        remote.publish("cloud/elsewhere", b"not-bridged", qos=1)
        remote.publish("cloud/down/end", b"in-end", qos=1)
        msgs = self.wait_payloads(local, [b"in-q2", b"in-retained", b"in-end"])
        self.assertNotIn(b"not-bridged", msgs)
        self.assertEqual((msgs[b"in-q2"].topic, msgs[b"in-q2"].qos), ("down/c", 1))
        self.assertEqual(msgs[b"in-retained"].topic, "down/kept")
        if v5:
            self.check_props(msgs[b"in-q2"], sent_props)
        late = self.client(local_port)
        late.subscribe("down/kept", 1)
        (kept,) = late.wait_messages(1)
        self.assertEqual((kept.topic, kept.payload, bool(kept.retain)), ("down/kept", b"in-retained", True))
        # Each message arrived once on the far side (QoS 1 and 2 through the bridge, no duplicates).
        self.assertEqual(sorted(m.payload for m in self.received(remote) if m.topic.startswith("cloud/up/")),
                         [b"out-end", b"out-q2", b"out-retained"])
        self.assertEqual(sorted(m.payload for m in self.received(local)),
                         [b"in-end", b"in-q2", b"in-retained"])

    def check_props(self, m, sent):
        """MQTT 5 properties forwarded: user properties, in order [MQTT-3.3.2-17] [MQTT-3.3.2-18], content type
        [MQTT-3.3.2-20], response topic [MQTT-3.3.2-15] and correlation data [MQTT-3.3.2-16] unaltered; the expiry
        present and counted down, never up [MQTT-3.3.2-6]."""
        p = m.properties
        self.assertEqual(getattr(p, "UserProperty", None), sent["UserProperty"], Client.msg_props(m))
        self.assertEqual(getattr(p, "ContentType", None), sent["ContentType"])
        self.assertEqual(getattr(p, "ResponseTopic", None), sent["ResponseTopic"])
        self.assertEqual(getattr(p, "CorrelationData", None), sent["CorrelationData"])
        expiry = getattr(p, "MessageExpiryInterval", None)
        self.assertIsNotNone(expiry, Client.msg_props(m))
        self.assertLessEqual(expiry, sent["MessageExpiryInterval"])
        self.assertGreater(expiry, sent["MessageExpiryInterval"] - WAIT_S)

    def test_mqtt_3_1_1(self):
        self.check_both_ways("mqtt", "3.1.1")

    def test_mqtt_5(self):
        self.check_both_ways("mqtt", "5.0")

    def test_mqtts_3_1_1(self):
        self.check_both_ways("mqtts", "3.1.1")

    def test_mqtts_5(self):
        self.check_both_ways("mqtts", "5.0")

    def test_ws_3_1_1(self):
        self.check_both_ways("ws", "3.1.1")

    def test_ws_5(self):
        self.check_both_ways("ws", "5.0")

    def check_no_echo(self, protocol):
        plain = free_port()
        self.mosquitto(f"listener {plain} {HOST}\nallow_anonymous true\n", [plain])
        moth = self.mothd(bridge_toml("cloud", [f"mqtt://{HOST}:{plain}"], ["sync/# both 1"], protocol=protocol))
        self.watch(moth.port, "cloud").wait("1", describe=self.logs)
        self.exchange_exactly_once(moth.port, plain, 50)

    def test_both_ways_without_prefixes_3_1_1(self):
        """try_private: CONNECT with protocol level 0x84, so mosquitto does not send the bridge's messages back."""
        self.check_no_echo("3.1.1")

    def test_both_ways_without_prefixes_5(self):
        """The bridge subscribes on mosquitto with No Local [MQTT-3.8.3-3]: its messages do not come back."""
        self.check_no_echo("5.0")

    def check_order(self, sender, receiver, topic, receiver_topic):
        """20 pairs of QoS 1 messages on one topic, the first of each pair retained, published back to back (not
        waiting for each PUBACK) by one client: the receiver gets all 40 in the order sent."""
        receiver.subscribe(receiver_topic, 1)
        sent = [f"{'kept' if i % 2 == 0 else 'plain'}-{i}".encode() for i in range(40)]
        infos = [sender.c.publish(topic, p, qos=1, retain=i % 2 == 0) for i, p in enumerate(sent)]
        sender.wait(lambda: all(i.mid in sender.published for i in infos), "every PUBACK")
        got = [m.payload for m in receiver.wait_messages(len(sent))]
        self.assertEqual(got, sent, "one publisher's messages on one topic in order")

    def test_order_kept_out(self):
        """[MQTT-4.6.0-6] (3.1.1) / [MQTT-4.6.0-5] (5.0): a publisher's messages on one topic reach a subscriber
        in order, here through mothd's bridge to mosquitto."""
        local_port, remote_port = self.link("mqtt", "5.0")
        self.check_order(self.client(local_port), self.client(remote_port), "up/order", "cloud/up/order")

    # A retained QoS 1 message (its batch must be written) and a plain one after it (nothing to write): the plain
    # one once overtook the retained one (Core::publish_durably); now it waits behind the write [MQTT-4.6.0-6].
    def test_order_kept_in(self):
        """As test_order_kept_out, from mosquitto through the bridge into mothd."""
        local_port, remote_port = self.link("mqtt", "5.0")
        self.check_order(self.client(remote_port), self.client(local_port), "cloud/down/order", "down/order")

    def test_mqtts_with_a_wrong_ca_stays_down(self):
        """mosquitto's certificate does not chain to the bridge's ca_file: every attempt fails the handshake, the
        state stays "0", and the log says why (the last_error line)."""
        _, address = self.remote("mqtts")
        moth = self.mothd(bridge_toml("cloud", [address], RULES, ca_file=CERTS["wrong_ca"], **FAST_RETRY))
        watch = self.watch(moth.port, "cloud")
        prefix = f"bridge cloud: remote {address}: "
        failures = wait_until(lambda: [ln for ln in moth.log().splitlines() if prefix in ln][2:], WAIT_S,
                              "three failed attempts logged", self.logs)
        self.assertIn("certificate verify failed", failures[0])
        self.assertNotIn("bridge cloud: connected", moth.log())
        self.assertEqual(watch.values(), [("0", True)])

    def test_state_follows_the_remote(self):
        """$SYS/broker/connection/cloud/state: retained "1" while the link is up, "0" once mosquitto is stopped,
        "1" again when it is back on the same port."""
        plain = free_port()
        conf = f"listener {plain} {HOST}\nallow_anonymous true\n"
        remote = self.mosquitto(conf, [plain])
        moth = self.mothd(bridge_toml("cloud", [f"mqtt://{HOST}:{plain}"], RULES, **FAST_RETRY))
        watch = self.watch(moth.port, "cloud")
        watch.wait("1", describe=self.logs)
        self.assertEqual(self.retained_state(moth.port), ("1", True))
        remote.stop()
        watch.wait("0", describe=self.logs)
        self.assertEqual(self.retained_state(moth.port), ("0", True))
        self.mosquitto(conf, [plain])  # the port is ours again, with free_port()'s race
        watch.wait("1", describe=self.logs)
        self.assertEqual(self.retained_state(moth.port), ("1", True))

    def retained_state(self, port):
        """What a new subscriber gets first on the state topic: (value, retain flag)."""
        w = StateWatch(port, "cloud")
        try:
            wait_until(w.values, WAIT_S, "the retained state")
            return w.values()[0]
        finally:
            w.close()

    def test_failover_to_the_second_address(self):
        """The first address refuses the connection (nobody listens there): the bridge goes on to the second."""
        plain = free_port()
        # Closed again at once: connections to it are refused. Were another process to bind it meanwhile (the race
        # of free_port()), the bridge would not connect there (not MQTT) or the "connected to" check below fails.
        refused = free_port()
        self.mosquitto(f"listener {plain} {HOST}\nallow_anonymous true\n", [plain])
        first, second = f"mqtt://{HOST}:{refused}", f"mqtt://{HOST}:{plain}"
        moth = self.mothd(bridge_toml("cloud", [first, second], RULES, **FAST_RETRY))
        self.watch(moth.port, "cloud").wait("1", describe=self.logs)
        log = moth.log()
        self.assertIn(f"bridge cloud: remote {first}: ", log)
        self.assertIn(f"bridge cloud: connected to {second}", log)
        remote = self.client(plain)
        remote.subscribe("cloud/up/#", 1)
        self.client(moth.port).publish("up/failover", b"via second", qos=1)
        (m,) = remote.wait_messages(1)
        self.assertEqual((m.topic, m.payload), ("cloud/up/failover", b"via second"))


class MosquittoToMoth(BridgeCase):
    """mosquitto's own bridge, mothd the remote."""

    COUNT = 50

    def check(self, bridge_protocol, expected_protocol_version, tls=False):
        tls_listener = (f'[[listener]]\nname = "tls"\nkind = "mqtts"\nbind = "{HOST}"\nport = 0\n'
                        f'cert_file = "{CERTS["cert"]}"\nkey_file = "{CERTS["key"]}"\n')
        moth = self.mothd(HTTP_LISTENER + (tls_listener if tls else ""))
        ports = listener_ports(moth.dir)
        http = ports["http"]
        # Over TLS: mosquitto's bridge checks mothd's certificate against the test CA (and 127.0.0.1 against its SAN).
        target = f"{HOST}:{ports['tls']}\nbridge_cafile {CERTS['ca']}" if tls else f"{HOST}:{moth.port}"
        plain = free_port()
        client_id = unique("mosq-bridge-")
        self.mosquitto(f"listener {plain} {HOST}\nallow_anonymous true\n"
                       f"connection mothlink\naddress {target}\nremote_clientid {client_id}\n"
                       f"topic sync/# both 1\ntry_private true\nbridge_protocol_version {bridge_protocol}\n"
                       "cleansession true\nrestart_timeout 1\n", [plain])

        # mothd lists mosquitto's bridge client once it connected; subscribed once its SUBSCRIBE was processed.
        def bridge_client():
            found = [c for c in api_get(http, "/api/v1/clients")["clients"] if c["client_id"] == client_id]
            return found[0] if found and found[0]["subscriptions"] >= 1 else None
        info = wait_until(bridge_client, WAIT_S, f"{client_id} in /api/v1/clients, subscribed", self.logs)
        self.assertEqual(info["protocol_version"], expected_protocol_version, info)

        self.exchange_exactly_once(moth.port, plain, self.COUNT)

        # Retained messages stay retained on the other side: mothd sends mosquitto's bridge the retain flag as
        # published (the bridge bit on 3.1.1; on 5.0 the bridge's Retain As Published [MQTT-3.3.1-13]), so a later
        # subscriber on mosquitto gets the message as retained; and mothd keeps what mosquitto's bridge retained.
        for publisher, port, topic in ((self.client(moth.port), plain, "sync/kept/from-moth"),
                                       (self.client(plain), moth.port, "sync/kept/from-mosq")):
            watcher = self.client(port)
            watcher.subscribe(topic, 1)
            publisher.publish(topic, b"retained", qos=1, retain=True)
            watcher.wait_messages(1)  # arrived: the far broker has it
            late = self.client(port)
            late.subscribe(topic, 1)
            (m,) = late.wait_messages(1)
            self.assertEqual((m.topic, m.payload, bool(m.retain)), (topic, b"retained", True))

    def test_mqttv311_with_try_private(self):
        """CONNECT with protocol level 0x84: mothd treats the client as a bridge (no echo, retain as published) and
        lists it as a 3.1.1 client."""
        self.check("mqttv311", 4)

    def test_mqttv50(self):
        """mosquitto's bridge subscribes with No Local: mothd does not send its messages back [MQTT-3.8.3-3]."""
        self.check("mqttv50", 5)

    def test_mqttv311_over_tls(self):
        """The same over mothd's mqtts listener, mosquitto verifying mothd's certificate (bridge_cafile)."""
        self.check("mqttv311", 4, tls=True)

    def test_mqttv50_over_tls(self):
        self.check("mqttv50", 5, tls=True)


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
