"""`moth pub` / `moth sub` / `moth rr` side by side with Debian's mosquitto_pub / mosquitto_sub / mosquitto_rr 2.0.11.

Both tools run against the same Debian mosquitto broker (started per test class on a free loopback port) and must
print the same bytes and exit with the same codes. The moth binary comes from $MOTH (CTest sets it).

Readiness without sleeps: before the subscribers start, a retained probe message is published under the test's
topic prefix. A subscriber prints it as soon as its subscription is in place, so the first byte on its stdout
means it is ready; the probe is part of the compared output. Every wait has a deadline.
"""

import json
import os
import pwd
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

HOST = "127.0.0.1"
DEADLINE_S = 30


def moth_path():
    path = os.environ.get("MOTH", "")
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest("set MOTH to the moth binary (CTest does)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Mosquitto:
    """A Debian mosquitto broker on a free port; `anonymous=False` refuses every connection (no password file)."""

    def __init__(self, anonymous=True, persistence=False):
        self.dir = tempfile.mkdtemp(prefix="moth-cli-")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} {HOST}\nallow_anonymous {'true' if anonymous else 'false'}\n")
            if persistence:
                # Run as ourselves: as root mosquitto would switch to the "mosquitto" user, who cannot write here.
                f.write(f"persistence true\npersistence_location {self.dir}/\nuser {pwd.getpwuid(os.geteuid()).pw_name}\n")
            else:
                f.write("persistence false\n")
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "wb")
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {open(self.log.name).read()}")
                time.sleep(0.02)  # polling a port that is not open yet; no state is assumed from the delay

    def restart(self):
        """SIGTERM (mosquitto saves its persistence file on the way out), then start again on the same port."""
        self.proc.terminate()
        self.proc.wait(timeout=DEADLINE_S)
        self._start()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=DEADLINE_S)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(cmd, stdin=None, timeout=DEADLINE_S):
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Sub:
    """A subscriber process whose stdout is collected; ready once it printed the retained probe."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""

    def wait_first_byte(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], DEADLINE_S)
        if not ready:
            self.proc.kill()
            raise AssertionError(f"no output (probe) from {self.cmd}")
        self.out += os.read(self.proc.stdout.fileno(), 1)

    def read_until(self, marker):
        deadline = time.monotonic() + DEADLINE_S
        while marker not in self.out:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            chunk = os.read(self.proc.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                self.proc.kill()
                raise AssertionError(f"{marker!r} did not come from {self.cmd}; output {self.out!r}")
            self.out += chunk

    def finish(self):
        try:
            rest, err = self.proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, err = self.proc.communicate()
            raise AssertionError(f"{self.cmd} did not exit; output so far {self.out + rest!r}")
        return self.proc.returncode, self.out + rest, err


class CliTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moth = moth_path()
        cls.broker = Mosquitto()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.base = "cli" + uuid.uuid4().hex[:10]
        self.conn = ["-h", HOST, "-p", str(self.broker.port)]

    def tearDown(self):
        # Clear the retained probe so it does not leak into other tests' wildcard subscriptions.
        run(["mosquitto_pub", *self.conn, "-t", f"{self.base}/0probe", "-r", "-n"])

    def mos_pub(self, *args, stdin=None):
        rc, out, err = run(["mosquitto_pub", *self.conn, *args], stdin=stdin)
        self.assertEqual(rc, 0, err)

    def compare_sub(self, sub_args, publish, count, version="mqttv311"):
        """Starts mosquitto_sub and moth sub with the same arguments on <base>/#, publishes with `publish()`,
        and asserts equal stdout and exit codes after `count` messages (plus the probe)."""
        self.mos_pub("-t", f"{self.base}/0probe", "-m", "ready", "-r", "-q", "1")
        common = [*self.conn, "-V", version, "-t", f"{self.base}/#", "-C", str(count + 1), "-W", "20", *sub_args]
        subs = [Sub(["mosquitto_sub", *common]), Sub([self.moth, "sub", *common])]
        for s in subs:
            s.wait_first_byte()
        publish()
        (mrc, mout, merr), (trc, tout, terr) = [s.finish() for s in subs]
        self.assertEqual(mrc, 0, merr)
        self.assertEqual(trc, mrc, terr)
        return mout, tout


class SubOutput(CliTestCase):
    def publish_mix(self):
        b = self.base
        self.mos_pub("-t", f"{b}/a", "-m", "hello")
        self.mos_pub("-t", f"{b}/a/b", "-m", "with space and \"quotes\" \\ ", "-q", "1")
        self.mos_pub("-t", f"{b}/empty", "-n", "-q", "2")
        self.mos_pub("-t", f"{b}/bin", "-s", stdin=bytes([0, 1, 2, 0xFF, 0x80, 10, 13]))
        self.mos_pub("-t", f"{b}/utf8", "-m", "Grüße €")
        self.mos_pub("-t", f"{b}/ret", "-m", "kept", "-r")
        self.mos_pub("-t", f"{b}/json", "-m", '{"t": 21.5, "ok": true, "n": [1, 2]}')

    # Subscription QoS 1: libmosquitto hands a QoS 2 message to mosquitto_sub only at PUBREL, so a later QoS 0
    # message from another connection may overtake it there and not in moth; both orders are valid MQTT.
    def check(self, args, version="mqttv311", qos="1"):
        mout, tout = self.compare_sub(["-q", qos, *args], self.publish_mix, 7, version)
        self.assertEqual(tout, mout)
        return tout

    def test_payload_only(self):
        self.check([])

    def test_verbose(self):
        out = self.check(["-v"])
        self.assertIn(f"{self.base}/empty (null)\n".encode(), out)

    def test_verbose_no_eol(self):
        self.check(["-v", "-N"])

    def test_format_fields(self):
        self.check(["-F", "%t|%q|%r|%l|%p|%x|%X"])

    def test_format_widths_and_escapes(self):
        self.check(["-F", "[%20t][%-8.3t][%5l][%-5l][%05l][%12p][%-12p][%4p][%16x][%-16X]\\t%%\\\\@@"])

    def test_format_no_eol(self):
        self.check(["-F", "%t=%p;", "-N"])

    def test_format_qos0_subscription(self):
        self.check(["-F", "%q %r %t"], qos="0")

    def test_format_json_without_timestamp(self):
        mout, tout = self.compare_sub(["-q", "1", "-F", "%j"], self.publish_mix, 7)
        mask = lambda s: re.sub(rb'"tst":"[^"]*"', b'"tst":""', s)  # noqa: E731 - time of arrival differs
        # qos 1/2 messages carry "mid" (packet id) in mosquitto_sub's output; moth cannot know it
        unmid = lambda s: re.sub(rb'"mid":\d+,', b"", s)  # noqa: E731
        self.assertEqual(unmid(mask(tout)), unmid(mask(mout)))

    def test_v5_properties(self):
        b = self.base

        def publish():
            self.mos_pub("-V", "5", "-t", f"{b}/p", "-m", "x", "-D", "publish", "user-property", "k1", "v1",
                         "-D", "publish", "user-property", "k2", "v2", "-D", "publish", "content-type", "text/plain",
                         "-D", "publish", "payload-format-indicator", "1", "-D", "publish", "response-topic",
                         f"{b}/resp", "-D", "publish", "correlation-data", "c0rr")
            self.mos_pub("-V", "5", "-t", f"{b}/q", "-m", "y")

        mout, tout = self.compare_sub(["-F", "%t|%P|%C|%F|%R|%D|%5S|%05F|[%-12C]"], publish, 2, "mqttv5")
        self.assertEqual(tout, mout)
        self.assertIn(b"k1:v1 k2:v2|text/plain|1|", tout)

    def test_filter_out_and_no_retained(self):
        def publish():
            self.mos_pub("-t", f"{self.base}/keep", "-m", "1")
            self.mos_pub("-t", f"{self.base}/drop/x", "-m", "2")
            self.mos_pub("-t", f"{self.base}/keep", "-m", "3")

        mout, tout = self.compare_sub(["-v", "-T", f"{self.base}/drop/#"], publish, 2)
        self.assertEqual(tout, mout)
        self.assertNotIn(b"drop", tout)

    def test_json_output(self):
        def publish():
            self.mos_pub("-t", f"{self.base}/t", "-m", "hi", "-q", "1")
            self.mos_pub("-t", f"{self.base}/b", "-s", stdin=b"\xff\x00")

        self.mos_pub("-t", f"{self.base}/0probe", "-m", "ready", "-r", "-q", "1")
        s = Sub([self.moth, "sub", *self.conn, "-t", f"{self.base}/#", "-q", "1", "-C", "3", "--json"])
        s.wait_first_byte()
        publish()
        rc, out, err = s.finish()
        self.assertEqual(rc, 0, err)
        lines = [json.loads(line) for line in out.decode().splitlines()]
        self.assertEqual(lines[0], {"topic": f"{self.base}/0probe", "payload": "ready", "qos": 1, "retain": True})
        self.assertEqual(lines[1], {"topic": f"{self.base}/t", "payload": "hi", "qos": 1, "retain": False})
        self.assertEqual(lines[2], {"topic": f"{self.base}/b", "payload": "/wA=", "encoding": "base64", "qos": 0,
                                    "retain": False})


class SubReconnect(unittest.TestCase):
    """mosquitto_sub keeps trying when its connection is lost, printing nothing on stdout; moth sub too. With a
    persistent session (-c -i, QoS 1) a message published while the broker restarted reaches both."""

    @classmethod
    def setUpClass(cls):
        cls.moth = moth_path()

    def setUp(self):
        self.broker = Mosquitto(persistence=True)
        self.addCleanup(self.broker.stop)

    def test_sub_reconnects_after_broker_restart(self):
        base = "rc" + uuid.uuid4().hex[:10]
        conn = ["-h", HOST, "-p", str(self.broker.port)]
        session = [*conn, "-c", "-q", "1", "-t", f"{base}/#"]
        tools = [("mosquitto_sub", ["mosquitto_sub"]), ("moth", [self.moth, "sub"])]
        # The persistent sessions and their subscriptions exist before the subscribers run for real.
        for name, cmd in tools:
            rc, _, err = run([*cmd, *session, "-i", f"{base}-{name}", "-E"])
            self.assertEqual(rc, 0, err)
        # Queued in both sessions; printed once a subscriber is connected, which makes it the readiness signal.
        run(["mosquitto_pub", *conn, "-t", f"{base}/before", "-m", "before", "-q", "1"])
        subs = [Sub([*cmd, *session, "-i", f"{base}-{name}", "-v", "-C", "2", "-W", "25"]) for name, cmd in tools]
        for s in subs:
            self.addCleanup(lambda p=s.proc: p.poll() is None and p.kill())
            s.wait_first_byte()
            s.read_until(b"before\n")
        self.broker.restart()
        # The subscribers are away or reconnecting now; the message waits in their stored sessions.
        rc, _, err = run(["mosquitto_pub", *conn, "-t", f"{base}/after", "-m", "after restart", "-q", "1"])
        self.assertEqual(rc, 0, err)
        (mrc, mout, merr), (trc, tout, terr) = [s.finish() for s in subs]
        self.assertEqual(mrc, 0, merr)
        self.assertEqual(trc, 0, terr)
        expected = f"{base}/before before\n{base}/after after restart\n".encode()
        self.assertEqual(mout, expected)
        self.assertEqual(tout, expected)


class PubInputs(CliTestCase):
    """The same inputs published with mosquitto_pub and with moth pub arrive the same."""

    def published(self, tool, extra, stdin=None):
        base = f"{self.base}{tool}"
        self.mos_pub("-t", f"{base}/0probe", "-m", "ready", "-r", "-q", "1")
        s = Sub(["mosquitto_sub", *self.conn, "-V", "5", "-q", "2", "-t", f"{base}/#", "-W", "20",
                 "-F", "%t|%q|%r|%l|%x|%C|%P|%R|%D|%F"])
        s.wait_first_byte()
        cmd = (["mosquitto_pub"] if tool == "mosquitto" else [self.moth, "pub"]) + [*self.conn, "-t", f"{base}/t",
                                                                                     *extra]
        rc, out, err = run(cmd, stdin=stdin)
        self.assertEqual(rc, 0, err)
        # End marker: what was published before it has arrived once it is printed (one broker, in order).
        self.mos_pub("-t", f"{base}/zend", "-m", "end", "-q", "1")
        s.read_until(f"{base}/zend|".encode())
        s.proc.terminate()
        _, sout, _ = s.finish()
        for topic in ("0probe", "t"):
            run(["mosquitto_pub", *self.conn, "-t", f"{base}/{topic}", "-r", "-n"])
        lines = sout.decode(errors="replace").splitlines()
        end = next(i for i, line in enumerate(lines) if line.startswith(f"{base}/zend|"))
        return [line.replace(base, "BASE") for line in lines[1:end]]

    def check(self, extra, stdin=None):
        self.assertEqual(self.published("moth", extra, stdin), self.published("mosquitto", extra, stdin))

    def test_message_qos1(self):
        self.check(["-m", "hi", "-q", "1"])

    def test_retained_qos2(self):
        self.check(["-m", "kept", "-q", "2", "-r"])

    def test_null(self):
        self.check(["-n"])

    def test_file(self):
        path = os.path.join(tempfile.mkdtemp(prefix="moth-cli-"), "payload.bin")
        with open(path, "wb") as f:
            f.write(bytes(range(256)))
        self.check(["-f", path])

    def test_stdin_whole(self):
        self.check(["-s"], stdin=b"line1\nline2\n\x00\xff")

    def test_stdin_lines(self):
        self.check(["-l", "-q", "1"], stdin=b"one\n\ntwo\r\nthree")

    def test_repeat(self):
        self.check(["-m", "r", "--repeat", "3"])

    def test_v5_properties(self):
        self.check(["-V", "5", "-m", "p", "-D", "publish", "user-property", "k", "v", "-D", "publish",
                    "content-type", "a/b", "-D", "publish", "response-topic", "r/t", "-D", "publish",
                    "correlation-data", "cd", "-D", "publish", "payload-format-indicator", "1"])


class ExitCodes(CliTestCase):
    """Same exit status (and a message on stderr) for the common failures."""

    def both(self, tool, args, stdin=None):
        mos = run([f"mosquitto_{tool}", *args], stdin=stdin)
        moth = run([self.moth, tool, *args], stdin=stdin)
        self.assertEqual(moth[0], mos[0], f"moth stderr: {moth[2]!r}, mosquitto stderr: {mos[2]!r}")
        self.assertNotEqual(moth[2], b"")
        return mos, moth

    def test_connection_refused(self):
        port = str(free_port())
        for tool, extra in (("sub", ["-t", "a"]), ("pub", ["-t", "a", "-m", "x"])):
            _, moth = self.both(tool, ["-h", HOST, "-p", port, *extra])
            self.assertEqual(moth[0], 1)
            self.assertIn(b"refused", moth[2].lower())

    def test_unknown_host(self):
        _, moth = self.both("sub", ["-h", "no-such-host.invalid", "-t", "a"])
        self.assertEqual(moth[0], 1)

    def test_bad_arguments(self):
        for tool, args in (("sub", ["-t", "a", "--bogus"]), ("sub", []), ("sub", ["-t", "a", "-q", "3"]),
                           ("sub", ["-t", "a", "-F", "%z"]), ("sub", ["-t", "a", "-V", "7"]),
                           ("sub", ["-t", "a", "-c"]), ("sub", ["-t", "a/#/b"]), ("pub", ["-t", "a"]),
                           ("pub", ["-t", "a", "-m", "x", "-l"]), ("pub", ["-t", "a/+", "-m", "x"]),
                           ("pub", ["-t", "a", "-m", "x", "--repeat", "0"]), ("pub", ["-t"])):
            with self.subTest(tool=tool, args=args):
                mos, moth = self.both(tool, [*self.conn, *args])
                self.assertEqual(moth[0], 1)

    def test_refused_by_broker(self):
        closed = Mosquitto(anonymous=False)
        try:
            conn = ["-h", HOST, "-p", str(closed.port)]
            for version, code in (("mqttv311", 5), ("mqttv5", 135)):
                for tool, extra in (("sub", ["-t", "a"]), ("pub", ["-t", "a", "-m", "x"])):
                    with self.subTest(version=version, tool=tool):
                        _, moth = self.both(tool, [*conn, "-V", version, *extra])
                        self.assertEqual(moth[0], code)
                        self.assertIn(b"Not authorized", moth[2])
        finally:
            closed.stop()

    def test_timeout(self):
        mos, moth = self.both("sub", [*self.conn, "-t", f"{self.base}/silent", "-W", "1"])
        self.assertEqual(moth[0], 27)
        self.assertEqual(moth[2], b"Timed out\n")

    def test_exit_after_subscribe(self):
        mos, moth = self.both_ok("sub", [*self.conn, "-t", f"{self.base}/x", "-E"])

    def both_ok(self, tool, args):
        mos = run([f"mosquitto_{tool}", *args])
        moth = run([self.moth, tool, *args])
        self.assertEqual(mos[0], 0, mos[2])
        self.assertEqual(moth[0], 0, moth[2])
        self.assertEqual(moth[1], mos[1])
        return mos, moth

    def test_retained_only_and_remove_retained(self):
        self.mos_pub("-t", f"{self.base}/r1", "-m", "one", "-r")
        self.mos_pub("-t", f"{self.base}/r2", "-m", "two", "-r")
        # Retained messages come first; -W bounds the wait for the first non-retained one.
        args = [*self.conn, "-t", f"{self.base}/#", "-v", "--retained-only", "-W", "2"]
        mos = run(["mosquitto_sub", *args])
        moth = run([self.moth, "sub", *args])
        self.assertEqual(moth[0], mos[0])
        self.assertEqual(sorted(moth[1].splitlines()), sorted(mos[1].splitlines()))
        rc, _, err = run([self.moth, "sub", *self.conn, "-t", f"{self.base}/#", "--remove-retained", "-C", "2"])
        self.assertEqual(rc, 0, err)
        rc, out, _ = run(["mosquitto_sub", *self.conn, "-t", f"{self.base}/#", "--retained-only", "-W", "1"])
        self.assertEqual(out, b"")


class RequestResponse(CliTestCase):
    """moth rr (and mosquitto_rr, for comparison) against a responder made of mosquitto_sub + mosquitto_pub."""

    def request(self, cmd):
        req, resp = f"{self.base}/req", f"{self.base}/resp"
        self.mos_pub("-t", f"{self.base}/0probe", "-m", "ready", "-r", "-q", "1")
        responder = Sub(["mosquitto_sub", *self.conn, "-V", "5", "-t", f"{self.base}/0probe", "-t", req, "-C", "2",
                         "-W", "20", "-F", "%R|%p"])
        responder.wait_first_byte()
        requester = subprocess.Popen([*cmd, *self.conn, "-t", req, "-e", resp, "-m", "ping", "-W", "20"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rc, out, err = responder.finish()
        self.assertEqual(rc, 0, err)
        line = out.decode().splitlines()[1]
        self.assertEqual(line, f"{resp}|ping")
        self.mos_pub("-V", "5", "-t", resp, "-m", "pong")
        rout, rerr = requester.communicate(timeout=DEADLINE_S)
        return requester.returncode, rout, rerr

    def test_moth_rr_matches_mosquitto_rr(self):
        mos = self.request(["mosquitto_rr"])
        moth = self.request([self.moth, "rr"])
        self.assertEqual(mos[:2], (0, b"pong\n"))
        self.assertEqual(moth[:2], mos[:2], moth[2])

    def test_rr_timeout(self):
        args = [*self.conn, "-t", f"{self.base}/nobody", "-e", f"{self.base}/resp", "-m", "x", "-W", "1"]
        mos = run(["mosquitto_rr", *args])
        moth = run([self.moth, "rr", *args])
        self.assertEqual(moth[0], mos[0])
        self.assertEqual(moth[2], b"Timed out\n")


if __name__ == "__main__":
    unittest.main()
