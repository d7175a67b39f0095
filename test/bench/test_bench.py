"""`moth bench` end to end: every scenario runs for about two seconds against a fresh mothd on 127.0.0.1 (port 0)
and its JSON result must show, at QoS 1, no lost, duplicated or out-of-order message and counts that add up:
every subscriber group received exactly what its publishers sent. Also MQTT 5.0, WebSocket, TLS and secure
WebSocket, the conn scenario, and the pub and sub scenarios in two processes.

Binaries: MOTH and MOTHD from the environment (CTest sets both). The broker helper is test/interop/broker.py.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from broker import HOST, Broker  # noqa: E402

RUN_TIMEOUT_S = 120  # a Debug + ASan build on a loaded 2-core machine


def moth():
    path = os.environ.get("MOTH", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set MOTH to the moth binary (CTest does)")
    return path


class Certs:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moth-bench-certs-")
        self.cert = os.path.join(self.dir, "server.pem")
        self.key = os.path.join(self.dir, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert], check=True, capture_output=True, timeout=60)


CERTS = None


def setUpModule():
    global CERTS
    CERTS = Certs()
    unittest.addModuleCleanup(shutil.rmtree, CERTS.dir, ignore_errors=True)


class BenchBroker(Broker):
    """mothd with mqtt (the base class's), ws, mqtts and wss listeners."""

    def start(self):
        self.extra_toml = (
            f'[[listener]]\nname = "ws"\nkind = "ws"\nbind = "{HOST}"\nport = 0\n'
            f'[[listener]]\nname = "tls"\nkind = "mqtts"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{CERTS.cert}"\nkey_file = "{CERTS.key}"\n'
            f'[[listener]]\nname = "wss"\nkind = "wss"\nbind = "{HOST}"\nport = 0\n'
            f'cert_file = "{CERTS.cert}"\nkey_file = "{CERTS.key}"\n')
        return super().start()

    def ports(self):
        with open(os.path.join(self.dir, "ports"), encoding="utf-8") as f:
            return {fields[0]: int(fields[3]) for fields in (line.split() for line in f) if len(fields) == 4}


class BenchTest(unittest.TestCase):
    def setUp(self):
        self.broker = BenchBroker()
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.ports = self.broker.ports()
        self.url = f"mqtt://{HOST}:{self.broker.port}"

    def bench(self, *args, url=None):
        cmd = [moth(), "bench", *args, "-L", url or self.url, "--json", "--quiet",
               "--broker-pid", str(self.broker.proc.pid)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, f"{cmd}\nstdout: {p.stdout}\nstderr: {p.stderr}\n{self.broker.log_tail()}")
        result = json.loads(p.stdout)
        self.assertNotIn("first_error", result, result)
        self.assertEqual(result["connect"]["failed"], 0, result)
        self.assertEqual(result["connect"]["dropped"], 0, result)
        self.assertEqual(result["connect"]["connected"], result["connections"], result)
        return result

    def assert_exact(self, r, copies_per_message):
        """QoS 1: nothing lost, duplicated or reordered, and everything sent arrived `copies_per_message` times."""
        self.assertGreater(r["sent"], 0, r)
        self.assertEqual(r["lost"], 0, r)
        self.assertEqual(r["duplicated"], 0, r)
        self.assertEqual(r["out_of_order"], 0, r)
        self.assertEqual(r["unexpected"], 0, r)
        self.assertEqual(r["expected"], r["sent"] * copies_per_message, r)
        self.assertEqual(r["received"], r["expected"], r)
        self.assertEqual(r["window_resets"], 0, r)
        lat = r["latency_us"]
        self.assertEqual(lat["count"], r["received"], r)
        self.assertTrue(0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], r)
        self.assertGreater(r["broker"]["cpu_us_per_delivered"], 0, r)
        self.assertGreater(r["broker"]["hwm_kb"], 0, r)

    # -- scenarios at QoS 1 ----------------------------------------------------------------------------------------
    def test_pairs_qos1(self):
        r = self.bench("pairs", "-c", "10", "-q", "1", "-d", "2")
        self.assertEqual((r["publishers"], r["subscribers"]), (10, 10))
        self.assert_exact(r, 1)

    def test_pairs_qos1_mqtt5_two_threads(self):
        r = self.bench("pubsub", "-c", "10", "-q", "1", "-V", "5", "-d", "2", "-T", "2", "-s", "256")
        self.assertEqual(r["mqtt_version"], "5.0")
        self.assert_exact(r, 1)

    def test_fanout_qos1(self):
        r = self.bench("fanout", "-c", "20", "-q", "1", "-d", "2")
        self.assertEqual((r["publishers"], r["subscribers"]), (1, 20))
        self.assert_exact(r, 20)

    def test_fanin_qos1(self):
        r = self.bench("fanin", "-c", "20", "-q", "1", "-w", "20", "-d", "2")
        self.assertEqual((r["publishers"], r["subscribers"]), (20, 1))
        self.assert_exact(r, 1)

    def test_shared_qos1(self):
        r = self.bench("shared", "-c", "20", "-S", "4", "-q", "1", "-w", "20", "-d", "2")
        self.assertEqual((r["publishers"], r["subscribers"]), (20, 4))
        self.assert_exact(r, 1)  # each message to one member of the group

    def test_paced_rate(self):
        # 10 publishers at 100 msg/s each for 2 s: about 2000 messages, never more than the schedule allows.
        r = self.bench("pairs", "-c", "10", "-q", "1", "-r", "100", "-d", "2")
        self.assert_exact(r, 1)
        self.assertLessEqual(r["sent"], 10 * (100 * r["duration_s"] + 1) + 10, r)
        self.assertGreater(r["sent"], 10 * 100 * r["duration_s"] * 0.5, r)

    # -- transports -------------------------------------------------------------------------------------------------
    def test_websocket_tls_and_secure_websocket(self):
        for name, scheme in (("ws", "ws"), ("tls", "mqtts"), ("wss", "wss")):
            with self.subTest(name):
                r = self.bench("pairs", "-c", "4", "-q", "1", "-d", "1", "--insecure",
                               url=f"{scheme}://{HOST}:{self.ports[name]}" + ("/mqtt" if scheme.startswith("ws") else ""))
                self.assert_exact(r, 1)

    # -- conn, pub, sub ---------------------------------------------------------------------------------------------
    def test_conn_holds_every_connection(self):
        r = self.bench("conn", "-c", "200", "--connect-rate", "2000", "-d", "1")
        self.assertEqual(r["connect"]["connected"], 200)
        self.assertGreater(r["connect"]["rate_per_s"], 0)
        self.assertLessEqual(r["connect"]["latency_ms_p50"], r["connect"]["latency_ms_p99"])
        self.assertGreater(r["broker"]["rss_kb_connected"], 0)

    def test_pub_then_sub_retained(self):
        # 5 publishers x 40 retained messages on distinct topics, then one subscriber to '#' gets all 200.
        p = self.bench("pub", "-c", "5", "-n", "40", "--retain", "-q", "1", "-t", "storm/%i/%j", "-d", "30")
        self.assertEqual(p["sent"], 200, p)
        s = self.bench("sub", "-c", "1", "-f", "storm/#", "-n", "200", "-q", "1", "-d", "30")
        self.assertEqual(s["received"], 200, s)
        self.assertEqual(s["duplicated"], 0, s)
        self.assertIn("seconds_to_count", s)

    def test_bad_arguments_are_refused(self):
        p = subprocess.run([moth(), "bench", "pairs", "-s", "8"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--size must be at least 16", p.stderr)

    def test_silent_broker_fails_the_connection_after_connect_timeout(self):
        # A listener that accepts and never sends CONNACK: each connection fails after --connect-timeout, so the
        # run ends (exit 1: nobody connected) instead of waiting for ever.
        import socket
        with socket.socket() as silent:
            silent.bind((HOST, 0))
            silent.listen(8)
            cmd = [moth(), "bench", "conn", "-c", "2", "--connect-timeout", "1", "-d", "0", "--json", "--quiet",
                   "-L", f"mqtt://{HOST}:{silent.getsockname()[1]}"]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 1, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual((r["connect"]["connected"], r["connect"]["failed"], r["connect"]["refused"]), (0, 2, 0), r)
        self.assertIn("no CONNACK within 1 s", r["first_error"])


class BenchCredentialsTest(unittest.TestCase):
    """-u/--pw against mothd with a password file and allow_anonymous false: %i gives each connection its own
    user; a wrong password is refused with CONNACK "Bad User Name or Password" (3.1.1 return code 4, 5.0 reason
    0x86), which moth bench counts as a refused connection and reports as an error, instead of waiting for it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="moth-bench-auth-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w", encoding="utf-8") as f:
            f.write("".join(f"user{i}:secret{i}\n" for i in range(4)))
        # PBKDF2 rather than argon2id: this is about the bench, and the sanitizer build hashes slowly.
        subprocess.run([moth(), "passwd", "-H", "sha512-pbkdf2", "-U", passwd], check=True, capture_output=True,
                       timeout=RUN_TIMEOUT_S)
        self.broker = Broker(anonymous=False, extra_toml=f'auth.password_file = "{passwd}"')
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()

    def bench(self, *args):
        cmd = [moth(), "bench", *args, "-L", f"mqtt://{HOST}:{self.broker.port}", "--json", "--quiet"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        return p, json.loads(p.stdout)

    def test_each_connection_logs_in_as_its_own_user(self):
        p, r = self.bench("conn", "-c", "4", "-u", "user%i", "--pw", "secret%i", "-d", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        # Anonymous clients are refused and each user has its own password: all four in means each sent its own.
        self.assertEqual((r["connect"]["connected"], r["connect"]["failed"], r["connect"]["refused"]), (4, 0, 0), r)

    def test_pairs_with_one_user(self):
        p, r = self.bench("pairs", "-c", "2", "-q", "1", "-d", "1", "-u", "user1", "--pw", "secret1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(r["connect"]["connected"], 4, r)
        self.assertEqual(r["lost"], 0, r)
        self.assertGreater(r["received"], 0, r)

    def test_wrong_password_is_refused_counted_and_reported(self):
        for version in ("311", "5"):
            with self.subTest(version):
                p, r = self.bench("conn", "-c", "3", "-u", "user%i", "--pw", "wrong", "-V", version, "-d", "0")
                self.assertEqual(p.returncode, 1, p.stderr)  # nobody connected
                self.assertEqual((r["connect"]["connected"], r["connect"]["failed"], r["connect"]["refused"]),
                                 (0, 3, 3), r)
                self.assertIn("connection refused: Bad User Name or Password", r["first_error"])
                self.assertIn("Error: the broker refused 3 of 3 connections", p.stderr)

    def test_some_refused_the_others_measured(self):
        # user4 is not in the file: one of five refused, the run goes on with the other four.
        p, r = self.bench("conn", "-c", "5", "-u", "user%i", "--pw", "secret%i", "-d", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((r["connect"]["connected"], r["connect"]["failed"], r["connect"]["refused"]), (4, 1, 1), r)
        self.assertIn("Error: the broker refused 1 of 5 connections", p.stderr)


if __name__ == "__main__":
    unittest.main()
