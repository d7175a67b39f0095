"""A node's link to NATS (docs/cluster.md, [cluster] in docs/configuration.md): user and password, token and TLS
towards a real nats-server that requires them, and what mothd says when it cannot join: wrong credentials or no
NATS at all (exit status 1 with the reason), a bad [cluster] table (exit status 2, file:line: key: message).
Every wait is bounded; ports are the servers' own (-p -1, read back).
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from broker import HOST, mothd_path, take_mothd_from_argv
from clustertest import MothNode, NatsServer, cluster_toml, nats_available
from listenertest import make_ca, make_cert

JOIN_TIMEOUT_S = 60  # mothd's connect_timeout_ms below plus a Debug + ASan start on a loaded machine


def run_mothd(config_text, tmp):
    """Runs mothd with `config_text` until it exits by itself; returns (status, its output)."""
    path = os.path.join(tmp, "mothd.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(config_text)
    r = subprocess.run([mothd_path(), "--config", path], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=JOIN_TIMEOUT_S, check=False)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def base_toml(tmp):
    return (f'data_dir = "{tmp}/data"\n[auth]\nallow_anonymous = true\n[[listener]]\nkind = "mqtt"\n'
            f'bind = "{HOST}"\nport = 0\n')


class LinkTest(unittest.TestCase):
    def setUp(self):
        # Not a skip: scripts/install-deps.sh installs nats-server, so a missing one is a failed set-up.
        self.assertTrue(nats_available(), "nats-server is not installed (scripts/install-deps.sh installs it)")
        self.tmp = tempfile.mkdtemp(prefix="moth-cluster-link-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def nats(self, *args):
        """A single JetStream nats-server with `args` (its auth or TLS options)."""
        s = NatsServer("link", None, [], extra_args=list(args))
        self.addCleanup(s.cleanup)
        s.start()
        self.addCleanup(s.stop)  # cleanups run last first: stopped, then its directory removed
        return s

    def node(self, name, url, **keys):
        n = MothNode(name, [url], 1, **keys)
        self.addCleanup(n.cleanup)
        n.start()
        self.addCleanup(n.stop)
        return n

    def assert_joined(self, node, server_url):
        status = node.cluster_status()
        self.assertIsNotNone(status, node.log_tail())
        self.assertTrue(status["enabled"])
        self.assertTrue(status["link"]["connected"], status)
        self.assertEqual(status["link"]["server"], server_url)

    def test_user_and_password(self):
        s = self.nats("--user", "moth", "--pass", "s3cret")
        n1 = self.node("n1", s.url, user="moth", password="s3cret")
        self.assert_joined(n1, s.url)

    def test_token(self):
        s = self.nats("--auth", "t0ken-value")
        n1 = self.node("n1", s.url, token="t0ken-value")
        self.assert_joined(n1, s.url)

    def test_tls_with_the_servers_ca(self):
        certs = os.path.join(self.tmp, "certs")
        os.makedirs(certs)
        make_ca(certs)
        make_cert(certs, "nats", "/CN=nats", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        s = self.nats("--tls", "--tlscert", os.path.join(certs, "nats.pem"), "--tlskey",
                      os.path.join(certs, "nats.key"))
        url = f"tls://{HOST}:{s.port}"
        n1 = self.node("n1", url, tls_ca=os.path.join(certs, "ca.pem"))
        self.assert_joined(n1, url)

    def test_wrong_password_exits_with_the_reason(self):
        s = self.nats("--user", "moth", "--pass", "s3cret")
        status, out = run_mothd(base_toml(self.tmp) + cluster_toml("n1", [s.url], 1, user="moth", password="wrong",
                                                                   connect_timeout_ms=2000), self.tmp)
        self.assertEqual(status, 1, out)
        self.assertIn(f"cluster: cannot connect to NATS at {s.url}", out)
        self.assertRegex(out, "Authori[sz]ation Violation")

    def test_no_nats_exits_with_the_url(self):
        # A port nothing listens on: a server started and stopped gives one that was free a moment ago.
        s = self.nats()
        url = s.url
        s.stop()
        status, out = run_mothd(base_toml(self.tmp) + cluster_toml("n1", [url], 1, connect_timeout_ms=1000), self.tmp)
        self.assertEqual(status, 1, out)
        self.assertIn(f"cluster: cannot connect to NATS at {url}", out)

    def test_bad_cluster_table_exits_2_with_file_line_key(self):
        status, out = run_mothd(base_toml(self.tmp) + '[cluster]\nenabled = true\nreplicas = 9\n', self.tmp)
        self.assertEqual(status, 2, out)
        self.assertRegex(out, r"mothd\.toml:\d+: cluster\.replicas: must be between 1 and 5, got 9")


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
