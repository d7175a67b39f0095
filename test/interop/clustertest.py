"""Helpers for the cluster interop tests (test_cluster.py; issue 23): a NATS JetStream cluster and mothd nodes on it.

- `NatsCluster(n=3)`: n Debian nats-server processes (2.9.10) with JetStream, joined in one JetStream cluster on
  loopback, each with its own temporary store dir. Client and monitoring ports are chosen by the server (`-p -1`,
  `-m -1`) and read back from the ports file it writes (`--ports_file_dir`). start() waits, with a deadline, until
  every running server's /jsz names a JetStream meta leader. kill(i) is SIGKILL; start(i) starts server i again on
  the same client port, cluster port and store dir, so the URLs the mothd nodes were given stay right.
- `MothNode(name, nats_urls, replicas)`: a mothd (broker.Broker) whose config enables [cluster]; its own data_dir;
  kill9() and restart() (same name, same data_dir, a new MQTT port: read `port` again).
- `Cluster(nodes=3, nats=3)`: a NatsCluster and mothd nodes n1..nN, every node given every NATS URL (node i's list
  starting with server i).
- `ClusterTestCase`: a unittest base with one Cluster per class (or per test), paho clients per node, and
  wait_routed(): readiness probes until a subscription is known across the cluster.
- `track_reasons(client)`, `no_reconnect(client)`: paho 1.6.1 adjustments (PUBACK reason codes, no auto reconnect).
- `cluster_toml(...)`: the [cluster] table.
- `wait_until(...)` (from bridgetest): polls a condition with a deadline.

Everything is bounded in time and everything started is stopped and removed by cleanup().
"""

import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

from bridgetest import HTTP_LISTENER, free_port, toml_value, wait_until
from broker import HOST, Broker, LoggedProcess
from pahoclient import V311, Client

# Debian's package puts it in /usr/sbin, which is not on every user's PATH.
NATS_SERVER = (os.environ.get("NATS_SERVER") or shutil.which("nats-server") or
               next((p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.access(p, os.X_OK)),
                    "/usr/sbin/nats-server"))
NATS_START_TIMEOUT_S = 30.0
JS_READY_TIMEOUT_S = 60.0  # a JetStream meta leader election on a loaded 2-core machine
STOP_TIMEOUT_S = 20.0
CLUSTER_NAME = "moth-test"


def nats_available():
    return os.access(NATS_SERVER, os.X_OK)


def cluster_toml(node, servers, replicas, prefix="moth", **keys):
    """The [cluster] table of a node's config; keys are further settings (ack_timeout_ms=...)."""
    values = {"enabled": True, "servers": list(servers), "node": node, "replicas": replicas, "prefix": prefix,
              "connect_timeout_ms": 20000, "ack_timeout_ms": 5000, "report_interval_s": 1}
    values.update(keys)
    return "[cluster]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


def _http_json(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))
    except (OSError, urllib.error.URLError, ValueError):
        return None


class NatsServer(LoggedProcess):
    """One nats-server of a NatsCluster: its directory (store, log, ports file) survives kill() for a restart."""

    log_name = "nats-server"

    def __init__(self, name, cluster_port, routes, extra_args=()):
        """`cluster_port` None: a server alone (no routes); `extra_args`: more options (auth, TLS)."""
        super().__init__()
        self.name = name
        self.extra_args = list(extra_args)
        self.cluster_port = cluster_port
        self.routes = list(routes)  # the other servers' cluster URLs (a route to itself is refused as duplicate)
        self.monitor_port = None
        self.dir = tempfile.mkdtemp(prefix=f"moth-nats-{name}-")
        self.log_path = os.path.join(self.dir, "nats.log")

    @property
    def url(self):
        return f"nats://{HOST}:{self.port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        ports_dir = os.path.join(self.dir, "ports")
        shutil.rmtree(ports_dir, ignore_errors=True)  # a killed server's ports file would name its old pid
        os.makedirs(ports_dir)
        # A restart keeps its client port: the mothd nodes' server lists name it (the port may have been taken in
        # the meantime; then the server fails to start and start() says so with its log).
        cmd = [NATS_SERVER, "-a", HOST, "-p", str(self.port) if self.port else "-1", "-m", "-1",
               "--ports_file_dir", ports_dir, "--server_name", self.name, "-js", "-sd",
               os.path.join(self.dir, "store")] + self.extra_args
        if self.cluster_port is not None:
            cmd += ["--cluster_name", CLUSTER_NAME, "--cluster", f"nats://{HOST}:{self.cluster_port}",
                    "--routes", ",".join(self.routes)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.exit_code = None

        def ports():
            if self.proc.poll() is not None:
                raise AssertionError(f"nats-server {self.name} exited with {self.proc.returncode}\n{self.log_tail()}")
            for path in glob.glob(os.path.join(ports_dir, "*.ports")):
                try:
                    with open(path, encoding="utf-8") as f:
                        return json.load(f)
                except (OSError, ValueError):
                    return None  # being written
            return None
        found = wait_until(ports, NATS_START_TIMEOUT_S, f"nats-server {self.name}'s ports file", self.log_tail)
        self.port = int(found["nats"][0].rsplit(":", 1)[1])
        self.monitor_port = int(found["monitoring"][0].rsplit(":", 1)[1])
        return self

    def jsz(self):
        return _http_json(f"http://{HOST}:{self.monitor_port}/jsz") if self.running() else None

    def meta_leader(self):
        info = self.jsz() or {}
        return (info.get("meta_cluster") or {}).get("leader")

    def kill(self):
        if self.running():
            self.proc.kill()
        if self.proc is not None:
            self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()


class NatsCluster:
    """n nats-servers with JetStream in one JetStream cluster on loopback."""

    def __init__(self, n=3):
        # Cluster (route) ports must be known before any server starts, since every server is told the others':
        # each is a port that was free when we bound 127.0.0.1:0 and closed it (the race: a stranger may take it
        # before nats-server binds it; that server then fails to start, loudly).
        cluster_ports = [free_port() for _ in range(n)]
        self.servers = []
        for i in range(n):
            routes = [f"nats://{HOST}:{p}" for j, p in enumerate(cluster_ports) if j != i]
            self.servers.append(NatsServer(f"s{i + 1}", cluster_ports[i], routes))

    def start(self):
        for s in self.servers:
            s.start()
        self.wait_ready()
        return self

    def urls(self):
        return [s.url for s in self.servers]

    def wait_ready(self, timeout=JS_READY_TIMEOUT_S):
        """Until every running server names the same JetStream meta leader, itself among the running ones."""
        def ready():
            running = [s for s in self.servers if s.running()]
            leaders = {s.meta_leader() for s in running}
            names = {s.name for s in running}
            return len(leaders) == 1 and leaders <= names
        wait_until(ready, timeout, "a JetStream meta leader on every running nats-server", self.describe)

    def kill(self, i):
        self.servers[i].kill()

    def start_one(self, i):
        self.servers[i].start()

    def describe(self):
        return "\n".join(f"{s.name}: running={s.running()} leader={s.meta_leader()}\n{s.log_tail(20)}"
                         for s in self.servers)

    def cleanup(self):
        for s in self.servers:
            s.stop()
            s.kill()
            s.cleanup()


class MothNode(Broker):
    """A mothd in the cluster: node `name`, the NATS URLs `nats_urls`. The directory (data_dir, log) is kept across
    kill9() and restart(); cleanup() removes it."""

    def __init__(self, name, nats_urls, replicas, overrides=(), extra_toml="", **cluster_keys):
        super().__init__(overrides)
        self.name = name
        self.log_name = f"mothd {name}"
        # An http listener too: /metrics and the JSON API show what the node knows of the cluster.
        self.extra_toml = extra_toml + HTTP_LISTENER + cluster_toml(name, nats_urls, replicas, **cluster_keys)

    @property
    def http_port(self):
        with open(os.path.join(self.dir, "ports"), encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) == 4 and fields[1] == "http":
                    return int(fields[3])
        raise AssertionError(f"{self.name}: no http listener in the ports file")

    def cluster_status(self):
        """GET /api/v1/cluster: the node's link to NATS (link.server, link.reconnects), its counters, the nodes."""
        return _http_json(f"http://{HOST}:{self.http_port}/api/v1/cluster", timeout=10)

    def metrics(self):
        """/metrics as {metric name: value}, the values of a name's label sets added up (this node's only)."""
        with urllib.request.urlopen(f"http://{HOST}:{self.http_port}/metrics", timeout=10) as r:
            text = r.read().decode("utf-8")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                name = key.split("{", 1)[0]
                try:
                    out[name] = out.get(name, 0.0) + float(value)
                except ValueError:
                    pass
        return out

    def kill9(self):
        """SIGKILL: no DISCONNECTs, no wills published by this node, the store as it was on disk."""
        self.kill()

    def restart(self):
        """Starts the node again with the same config and data_dir (after kill9() or stop())."""
        assert self.proc is None or self.proc.poll() is not None, "restart() of a running node"
        self.proc = None
        self.exit_code = None
        self.port = None
        return self.start()


class Cluster:
    """A NatsCluster and `nodes` mothd nodes (n1, n2, ...), each given every NATS URL."""

    def __init__(self, nodes=3, nats=3, replicas=None, **cluster_keys):
        self.nats = NatsCluster(nats)
        self.replicas = replicas if replicas is not None else min(nats, 3)
        self.cluster_keys = cluster_keys
        self.nodes = []
        self.node_count = nodes

    def start(self):
        try:
            self.nats.start()
            urls = self.nats.urls()
            for i in range(self.node_count):
                # Every node gets every URL, rotated: node i tries server i first, so killing one server cuts
                # one node's link rather than all of them or none.
                mine = urls[i % len(urls):] + urls[:i % len(urls)]
                node = MothNode(f"n{i + 1}", mine, self.replicas, **self.cluster_keys)
                self.nodes.append(node)
                node.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def port(self, i):
        return self.nodes[i].port

    def describe(self, lines=60):
        return "\n".join(n.log_tail(lines) for n in self.nodes) + "\n" + self.nats.describe()

    def stop(self):
        """SIGTERM every node (asserting exit 0, as Broker.stop does), then the NATS servers."""
        errors = []
        for n in self.nodes:
            try:
                n.stop()
            except AssertionError as e:
                errors.append(str(e))
        self.cleanup()
        if errors:
            raise AssertionError("\n".join(errors))

    def cleanup(self):
        for n in self.nodes:
            n.kill()
            n.cleanup()
        self.nats.cleanup()


# -- test support ------------------------------------------------------------------------------------------------
PROBE = b"probe:"  # payload prefix of readiness probes; real() leaves them out


def real(messages):
    """paho messages that are not probes."""
    return [m for m in messages if not m.payload.startswith(PROBE)]


def reason_value(rc):
    """A paho reason code (ReasonCodes, or an int for 3.1.1) as an int."""
    return int(rc.value if hasattr(rc, "value") else rc)


def no_reconnect(client):
    """paho 1.6.1's network thread reconnects by itself after a lost connection (reconnect_on_failure, a constructor
    argument pahoclient does not pass): a client that was taken over would take the session back, and a client of a
    killed node would hammer its port. The tests move such clients themselves."""
    client.c._reconnect_on_failure = False
    return client


def track_reasons(client):
    """Records the reason code of every PUBACK, PUBREC and PUBCOMP by packet id in client.reasons (paho 1.6.1's
    on_publish does not pass it): a QoS 1/2 message counts as accepted only with a code below 0x80."""
    client.reasons = {}
    for name in ("_handle_pubackcomp", "_handle_pubrec"):
        original = getattr(client.c, name)

        def handle(*args, _original=original):
            packet = bytes(client.c._in_packet["packet"])
            if len(packet) >= 2:
                mid = struct.unpack("!H", packet[:2])[0]
                code = packet[2] if len(packet) >= 3 else 0  # 5.0 leaves out a Success code
                with client.cond:
                    client.reasons[mid] = max(client.reasons.get(mid, 0), code)
            return _original(*args)
        setattr(client.c, name, handle)
    return client


class ClusterTestCase(unittest.TestCase):
    """One Cluster for the whole class (setUpClass), for tests that do not disturb each other; prints every node's
    log tail when a test fails."""

    cluster_nodes = 3
    cluster_nats = 3
    cluster_keys = {}
    per_test_cluster = False  # True: setUp starts a fresh Cluster for every test (tests that kill nodes)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not nats_available():
            raise unittest.SkipTest(f"no nats-server at {NATS_SERVER}")
        cls.cluster = None
        if not cls.per_test_cluster:
            cls.cluster = Cluster(cls.cluster_nodes, cls.cluster_nats, **cls.cluster_keys).start()

    @classmethod
    def tearDownClass(cls):
        if cls.cluster is not None:
            cls.cluster.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        if self.per_test_cluster:
            type(self).cluster = Cluster(self.cluster_nodes, self.cluster_nats, **self.cluster_keys).start()
            self.addCleanup(self._stop_test_cluster)

    def _stop_test_cluster(self):
        cluster, type(self).cluster = type(self).cluster, None
        type(self).stopped_cluster = cluster  # its logs for run()'s failure report (the processes are gone by then)
        cluster.stop()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        cluster = getattr(type(self), "cluster", None) or getattr(type(self), "stopped_cluster", None)
        if len(result.failures) + len(result.errors) > before and cluster is not None:
            sys.stderr.write(f"\n{self.id()} failed; logs:\n{cluster.describe(80)}\n")
        return out

    def client(self, node, version=V311, client_id=None, clean_session=True, connect=True, **connect_kw):
        """A paho client of node `node` (0-based), stopped at cleanup."""
        c = Client(self.cluster.port(node), version, client_id, clean_session)
        self.addCleanup(c.stop)
        if connect:
            c.connect(**connect_kw)
        return c

    def wait_routed(self, publisher, topic, qos, subscribers, timeout=30):
        """Publishes probes to `topic` from `publisher` until every subscriber (paho Client or mosq.Sub) got one:
        their subscriptions are known across the cluster. A probe has the test's QoS, since QoS 0 and QoS 1/2 take
        different paths (core NATS, JetStream)."""
        token = PROBE + uuid.uuid4().hex[:8].encode()

        def seen(s):
            if isinstance(s, Client):
                with s.cond:
                    return any(m.payload.startswith(token) for m in s.messages)
            return token.decode() in "\n".join(s._all_lines())
        deadline = time.monotonic() + timeout
        i = 0
        while not all(seen(s) for s in subscribers):
            if time.monotonic() > deadline:
                raise AssertionError(f"probes on {topic!r} did not reach every subscriber within {timeout} s\n"
                                     f"{[seen(s) for s in subscribers]}")
            publisher.publish(topic, token + b"-%d" % i, qos)
            i += 1
            # Paced probing: enough for a subscription to propagate between two probes, few probes in all.
            time.sleep(0.1)
