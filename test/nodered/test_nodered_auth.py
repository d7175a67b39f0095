"""Node-RED's mqtt nodes with credentials against mothd with a password file and an ACL (issue 18).

mothd (127.0.0.1, port 0) gets a password file (`moth passwd -c -b` for Node-RED's user, Debian's mosquitto_passwd
for the test's watcher) and this ACL: Node-RED's user `nodered` reads lab/in/#, writes lab/out/# and lab/hidden
(writing is all it may do there); the watcher reads and writes lab/# and reads the $SYS client counters. Anonymous
clients are refused.

Node-RED (as test_nodered.py starts it) gets two mqtt-broker config nodes whose user name and password are node
credentials, in flows_cred.json next to flows.json, where the editor's deploy puts them:

- "mothd with credentials" (the right password, MQTT 3.1.1): `mqtt in` on lab/# and `mqtt in` on lab/hidden ->
  `function` (JSON of the topic and payload) -> `mqtt out` on lab/out/echo;
- "mothd wrong password" (MQTT 5.0): an `mqtt in` on lab/in/# that would use it.

Asserted: the first connects and round-trips what the watcher publishes on lab/in/...; nothing on lab/hidden ever
reaches the flow (the subscription to lab/# is granted but mothd delivers only what `nodered` may read; the one to
lab/hidden is refused, which mothd logs and counts), nor do the flow's own echoes on lab/out/echo, which lab/# also
matches; the second never connects: Node-RED logs the failed connection and mothd's auth_failed counter rises;
Node-RED's admin API shows the user name and hides the password.

Run by CTest (label interop) with MOTHD and MOTH set; by hand as test_nodered.py says.
"""

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from test_nodered import HOST, NodeRed, wait_for  # also puts test/interop on sys.path

from broker import Broker
from pahoclient import Client

WAIT_S = 30.0
GOOD_BROKER, WRONG_BROKER = "c0ffee0000000001", "c0ffee0000000002"
NODERED_USER, NODERED_PASSWORD = "nodered", "nodered-pw"
WATCHER_USER, WATCHER_PASSWORD = "watcher", "watcher-pw"
AUTH_FAILED = "$SYS/broker/clients/auth_failed"
ECHO_TOPIC = "lab/out/echo"

ACL = """user nodered
topic read lab/in/#
topic write lab/out/#
topic write lab/hidden

user watcher
topic readwrite lab/#
topic read $SYS/broker/clients/#
"""

ECHO_JS = "msg.payload = JSON.stringify({ topic: msg.topic, payload: msg.payload });\nmsg.topic = 'lab/out/echo';\n" \
          "return msg;\n"


def broker_node(node_id, name, client_id, port, version):
    return {"id": node_id, "type": "mqtt-broker", "name": name, "broker": HOST, "port": str(port),
            "clientid": client_id, "autoConnect": True, "usetls": False, "protocolVersion": version,
            "keepalive": "60", "cleansession": True, "autoUnsubscribe": True, "birthTopic": "", "closeTopic": "",
            "willTopic": "", "userProps": "", "sessionExpiry": ""}


def mqtt_in(node_id, name, topic, broker, wires):
    return {"id": node_id, "type": "mqtt in", "z": "c0ffee0000000000", "name": name, "topic": topic, "qos": "1",
            "datatype": "utf8", "broker": broker, "nl": False, "rap": True, "rh": 0, "inputs": 0, "x": 120, "y": 80,
            "wires": [wires]}


def flows(port):
    """The flow and its credentials ({node id: {"user", "password"}})."""
    nodes = [
        {"id": "c0ffee0000000000", "type": "tab", "label": "Moth credentials (test)", "disabled": False, "info": ""},
        broker_node(GOOD_BROKER, "mothd with credentials", "node-red-auth", port, "4"),
        broker_node(WRONG_BROKER, "mothd wrong password", "node-red-wrongpw", port, "5"),
        mqtt_in("c0ffee0000000010", "lab all", "lab/#", GOOD_BROKER, ["c0ffee0000000020"]),
        mqtt_in("c0ffee0000000011", "hidden", "lab/hidden", GOOD_BROKER, ["c0ffee0000000020"]),
        mqtt_in("c0ffee0000000012", "never connected", "lab/in/#", WRONG_BROKER, ["c0ffee0000000020"]),
        {"id": "c0ffee0000000020", "type": "function", "z": "c0ffee0000000000", "name": "echo", "func": ECHO_JS,
         "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], "x": 340, "y": 80,
         "wires": [["c0ffee0000000030"]]},
        {"id": "c0ffee0000000030", "type": "mqtt out", "z": "c0ffee0000000000", "name": "echo out", "topic": "",
         "qos": "1", "retain": "false", "respTopic": "", "contentType": "", "userProps": "", "correl": "",
         "expiry": "", "broker": GOOD_BROKER, "x": 540, "y": 80, "wires": []},
    ]
    credentials = {GOOD_BROKER: {"user": NODERED_USER, "password": NODERED_PASSWORD},
                   WRONG_BROKER: {"user": NODERED_USER, "password": NODERED_PASSWORD + "x"}}
    return nodes, credentials


class NodeRedCredentials(unittest.TestCase):
    def setUp(self):
        files = tempfile.mkdtemp(prefix="moth-nodered-auth-")
        self.addCleanup(shutil.rmtree, files, ignore_errors=True)
        passwd, acl = os.path.join(files, "passwd"), os.path.join(files, "acl")
        subprocess.run([os.environ["MOTH"], "passwd", "-c", "-b", passwd, NODERED_USER, NODERED_PASSWORD],
                       check=True, timeout=WAIT_S)
        subprocess.run(["mosquitto_passwd", "-b", passwd, WATCHER_USER, WATCHER_PASSWORD], check=True,
                       timeout=WAIT_S)
        with open(acl, "w", encoding="utf-8") as f:
            f.write(ACL)
        # anonymous=None: no allow_anonymous in the config, so anonymous clients are refused.
        self.broker = Broker(extra_toml=f'[auth]\npassword_file = "{passwd}"\nacl_file = "{acl}"\n', anonymous=None)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)  # runs after Node-RED and the watcher are gone
        self.broker.start()

    def watcher(self):
        c = Client(self.broker.port, client_id="watcher")
        c.c.username_pw_set(WATCHER_USER, WATCHER_PASSWORD)
        self.addCleanup(c.stop)
        c.connect()
        for topic in ("lab/out/#", AUTH_FAILED):
            self.assertEqual(c.subscribe(topic, qos=1), [1], f"SUBACK for {topic}")
        return c

    def test_credentials_acl_and_wrong_password(self):
        port = self.broker.port
        watcher = self.watcher()
        nodes, credentials = flows(port)
        red = NodeRed(nodes, credentials)
        self.addCleanup(red.cleanup)
        try:
            red.start()
            self.check_flow(red, watcher, port)
        except BaseException:
            print(f"\n{red.log_tail()}\n{self.broker.log_tail()}", flush=True)
            raise

    def echoes(self, watcher):
        with watcher.cond:
            return [json.loads(m.payload) for m in watcher.messages if m.topic == ECHO_TOPIC]

    def check_flow(self, red, watcher, port):
        connected = f"[mqtt-broker:mothd with credentials] Connected to broker: node-red-auth@mqtt://{HOST}:{port}"
        wait_for(lambda: connected in red.log(), WAIT_S, repr(connected), alive=red.check_alive)
        # The mqtt-in node on lab/hidden subscribed, and mothd refused it (SUBACK 0x80): nodered may not read it.
        denied = "denied SUBSCRIBE to lab/hidden to node-red-auth from "
        wait_for(lambda: denied in self.broker.log(), WAIT_S, repr(denied), alive=red.check_alive)

        # Node-RED's SUBSCRIBE to lab/# may still be on its way: probe until an echo comes back (0.5 s per probe).
        deadline = time.monotonic() + WAIT_S
        for n in itertools.count(1):
            watcher.publish("lab/in/probe", str(n).encode(), qos=1)
            try:
                watcher.wait(lambda: any(e["topic"] == "lab/in/probe" for e in self.echoes(watcher)),
                             "a probe's echo", timeout=0.5)
                break
            except AssertionError:
                red.check_alive()
                if time.monotonic() > deadline:
                    raise

        # In order on one connection, at QoS 1: were either lab/hidden message delivered to Node-RED, its echo
        # would come before the marker's.
        for topic, payload in (("lab/hidden", "secret-1"), ("lab/in/temp", "21.5"), ("lab/hidden", "secret-2"),
                               ("lab/in/marker", "end")):
            watcher.publish(topic, payload.encode(), qos=1)
        watcher.wait(lambda: any(e == {"topic": "lab/in/marker", "payload": "end"} for e in self.echoes(watcher)),
                     "the marker's echo")
        after_probes = [e for e in self.echoes(watcher) if e["topic"] != "lab/in/probe"]
        self.assertEqual(after_probes, [{"topic": "lab/in/temp", "payload": "21.5"},
                                        {"topic": "lab/in/marker", "payload": "end"}])
        for e in self.echoes(watcher):  # not even the flow's own echoes (lab/# matches lab/out/echo)
            self.assertTrue(e["topic"].startswith("lab/in/"), e)

        # The wrong password: Node-RED reports the failed connection, mothd counts the refused CONNECT.
        failed = f"[mqtt-broker:mothd wrong password] Connection failed to broker: node-red-wrongpw@mqtt://{HOST}:{port}"
        wait_for(lambda: failed in red.log(), WAIT_S, repr(failed), alive=red.check_alive)
        watcher.wait(lambda: any(m.topic == AUTH_FAILED and int(m.payload) >= 1 for m in watcher.messages),
                     f"{AUTH_FAILED} >= 1", timeout=WAIT_S)
        self.assertNotIn("Connected to broker: node-red-wrongpw@", red.log())

        # The admin API (what the editor shows) has the user name and only says that a password exists.
        for node_id in (GOOD_BROKER, WRONG_BROKER):
            status, _, body = red.http_get(f"/credentials/mqtt-broker/{node_id}")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body), {"user": NODERED_USER, "has_password": True})

        watcher.stop()
        self.assertEqual(red.stop(), 0, red.log_tail())
        self.assertEqual([ln for ln in red.log().splitlines() if "[error]" in ln], [])


if __name__ == "__main__":
    unittest.main()
