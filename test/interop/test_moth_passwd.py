"""`moth passwd` against Debian's mosquitto_passwd and mosquitto 2.0.11, both ways.

- A file written by `mosquitto_passwd` (`$7$` PBKDF2 and `$6$` SHA-512 entries) verifies with Moth's reader and
  hashes (`moth passwd --check`, the same code mothd uses: src/auth).
- A file written by `moth passwd -H sha512-pbkdf2` authenticates in Debian's mosquitto (`password_file`,
  `allow_anonymous false`): mosquitto_pub with the right password is accepted, with a wrong one refused.
- The command line behaves as mosquitto_passwd's: same messages and exit codes for the same mistakes, the
  password prompt (on a pseudo-terminal), -D, -U; and what Moth adds: argon2id by default, comments kept, the file
  replaced atomically with its mode kept (0600 when created), symbolic links followed.

The moth binary comes from $MOTH (CTest sets it). Every wait has a deadline; ports are picked free by binding
127.0.0.1:0.
"""

import base64
import hashlib
import hmac
import os
import pty
import pwd
import select
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

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


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=DEADLINE_S, text=True)
    return p.returncode, p.stdout, p.stderr


class PasswdTestCase(unittest.TestCase):
    def setUp(self):
        self.moth = moth_path()
        self.dir = tempfile.mkdtemp(prefix="moth-passwd-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def passwd(self, *args, stdin=None):
        return run([self.moth, "passwd", *args], stdin=stdin)

    def check(self, file, user, password):
        return self.passwd("--check", file, user, password)[0]

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()


class MosquittoFileInMoth(PasswdTestCase):
    def test_mosquitto_passwd_entries_verify(self):
        f = self.path("pw")
        self.assertEqual(run(["mosquitto_passwd", "-c", "-b", f, "alice", "correct horse"])[0], 0)
        self.assertEqual(run(["mosquitto_passwd", "-H", "sha512", "-b", f, "bob", "battery staple"])[0], 0)
        text = self.read("pw")
        self.assertIn("alice:$7$101$", text)
        self.assertIn("bob:$6$", text)
        self.assertEqual(self.check(f, "alice", "correct horse"), 0)
        self.assertEqual(self.check(f, "bob", "battery staple"), 0)
        self.assertEqual(self.check(f, "alice", "battery staple"), 1)
        self.assertEqual(self.check(f, "bob", ""), 1)
        rc, _, err = self.passwd("--check", f, "carol", "x")
        self.assertEqual((rc, err), (1, "User carol not found in password file.\n"))

    def test_check_names_the_bad_line(self):
        f = self.path("pw")
        with open(f, "w") as out:
            out.write("# plain text, never hashed\nalice:secret\n")
        rc, _, err = self.passwd("--check", f, "alice", "secret")
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith(f"Error: {f}:2: user 'alice': unknown password hash scheme"), err)


class Mosquitto:
    """Debian's mosquitto on a free loopback port with a password file and no anonymous access."""

    def __init__(self, directory, password_file):
        self.port = free_port()
        self.conf = os.path.join(directory, "mosquitto.conf")
        with open(self.conf, "w") as f:
            # Run as ourselves: as root mosquitto would switch to the "mosquitto" user, who cannot read the file.
            f.write(f"listener {self.port} {HOST}\nallow_anonymous false\npassword_file {password_file}\n"
                    f"persistence false\nuser {pwd.getpwuid(os.geteuid()).pw_name}\n")
        self.log = open(os.path.join(directory, "mosquitto.log"), "wb")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mosquitto did not start: {open(self.log.name).read()}")
                time.sleep(0.02)  # polling a port that is not open yet; no state is assumed from the delay

    def pub(self, version, user, password):
        return run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-V", version, "-u", user, "-P", password,
                    "-t", "passwd/test", "-m", "hello", "-q", "1"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=DEADLINE_S)
        self.log.close()


class MothFileInMosquitto(PasswdTestCase):
    def test_sha512_pbkdf2_entries_authenticate_in_mosquitto(self):
        f = self.path("pw")
        self.assertEqual(self.passwd("-H", "sha512-pbkdf2", "-c", "-b", f, "alice", "correct horse")[0], 0)
        self.assertEqual(self.passwd("-H", "sha512-pbkdf2", "-b", f, "bob", "battery staple")[0], 0)
        self.assertIn("alice:$7$101$", self.read("pw"))
        broker = Mosquitto(self.dir, f)
        try:
            for version in ("mqttv311", "mqttv5"):
                with self.subTest(version=version):
                    self.assertEqual(broker.pub(version, "alice", "correct horse")[0], 0)
                    self.assertEqual(broker.pub(version, "bob", "battery staple")[0], 0)
                    rc, _, err = broker.pub(version, "alice", "battery staple")
                    self.assertNotEqual(rc, 0)
                    # mosquitto 2.0.11 answers a wrong password with CONNACK 5 (3.1.1) / 0x87 Not authorized (5.0).
                    self.assertIn("not authorised" if version == "mqttv311" else "Not authorized", err)
        finally:
            broker.stop()


class CommandLine(PasswdTestCase):
    def test_same_mistakes_same_messages_as_mosquitto_passwd(self):
        f = self.path("pw")
        self.assertEqual(run(["mosquitto_passwd", "-c", "-b", f, "alice", "x"])[0], 0)
        cases = [
            ["-c", "-D", f, "alice"],
            ["-c", "-U", f],
            ["-D", "-U", f],
            ["-b", "-D", f, "alice"],
            ["-c", "-b", f, "alice"],
            ["-c", f],
            ["-D", f],
            ["-U"],
            ["-H", "md5", "-b", f, "alice", "x"],
            ["-H"],
            ["-I", "0", "-b", f, "alice", "x"],
            ["-b", f, "al:ice", "x"],
            ["-b", f, "al\x01ice", "x"],
            ["-D", f, "nobody"],
            ["-b", self.path("missing"), "alice", "x"],
        ]
        for args in cases:
            with self.subTest(args=args):
                want = run(["mosquitto_passwd", *args])
                got = self.passwd(*args)
                self.assertEqual((got[0], got[2]), (want[0], want[2]))

    def test_create_add_delete_and_argon2id_default(self):
        f = self.path("pw")
        self.assertEqual(self.passwd("-c", "-b", f, "alice", "pw1")[0], 0)
        self.assertEqual(stat.S_IMODE(os.stat(f).st_mode), 0o600)
        self.assertTrue(self.read("pw").startswith("alice:$argon2id$v=19$m=65536,t=3,p=1$"))
        os.chmod(f, 0o640)
        with open(f, "a") as out:
            out.write("# the class\n\n")
        self.assertEqual(self.passwd("-b", f, "bob", "pw2")[0], 0)
        self.assertEqual(self.passwd("-b", f, "alice", "pw3")[0], 0)  # changes alice in place
        self.assertEqual(stat.S_IMODE(os.stat(f).st_mode), 0o640, "the file keeps its mode")
        lines = self.read("pw").splitlines()
        self.assertEqual([line.split(":")[0] for line in lines], ["alice", "# the class", "", "bob"])
        self.assertEqual(self.check(f, "alice", "pw3"), 0)
        self.assertEqual(self.check(f, "alice", "pw1"), 1)
        self.assertEqual(self.check(f, "bob", "pw2"), 0)
        self.assertEqual(self.passwd("-D", f, "alice")[0], 0)
        self.assertEqual(self.check(f, "alice", "pw3"), 1)
        self.assertEqual(self.check(f, "bob", "pw2"), 0)
        self.assertEqual([n for n in os.listdir(self.dir)], ["pw"], "no temporary file left behind")

    def test_scram_sha256_entries_match_rfc5802_derivation(self):
        f = self.path("pw")
        self.assertEqual(self.passwd("-H", "scram-sha-256", "-c", "-b", f, "dave", "pencil")[0], 0)
        user, encoded = self.read("pw").strip().split(":", 1)
        _, scheme, iterations, salt, stored, server = encoded.split("$")
        self.assertEqual((user, scheme, iterations), ("dave", "scram-sha-256", "4096"))  # RFC 7677's minimum
        self.assertEqual(len(base64.b64decode(salt)), 16)
        # StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
        salted = hashlib.pbkdf2_hmac("sha256", b"pencil", base64.b64decode(salt), 4096)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        self.assertEqual(base64.b64decode(stored), hashlib.sha256(client_key).digest())
        self.assertEqual(base64.b64decode(server), hmac.new(salted, b"Server Key", "sha256").digest())
        self.assertEqual(self.check(f, "dave", "pencil"), 0)
        self.assertEqual(self.check(f, "dave", "pencil2"), 1)
        self.assertEqual(self.passwd("-H", "scram-sha-256", "-I", "5000", "-b", f, "erin", "x")[0], 0)
        self.assertIn("\nerin:$scram-sha-256$5000$", self.read("pw"))
        rc, _, err = self.passwd("-I", "1000", "-H", "scram-sha-256", "-b", f, "frank", "x")
        self.assertEqual(rc, 1)
        self.assertIn("at least 4096 iterations", err)

    def test_symbolic_link_is_followed_and_kept(self):
        real = self.path("real")
        self.assertEqual(self.passwd("-c", "-b", real, "alice", "pw1")[0], 0)
        link = self.path("link")
        os.symlink(real, link)
        self.assertEqual(self.passwd("-b", link, "bob", "pw2")[0], 0)
        self.assertTrue(os.path.islink(link))
        self.assertEqual(self.check(real, "bob", "pw2"), 0)

    def test_update_hashes_plain_text_and_keeps_hashes(self):
        f = self.path("pw")
        with open(f, "w") as out:
            out.write("# plain\nu1:p1\n u2 : p2 \n")
        self.assertEqual(self.passwd("-H", "sha512-pbkdf2", "-U", f)[0], 0)
        first = self.read("pw")
        self.assertTrue(first.startswith("# plain\nu1:$7$101$"), first)
        self.assertEqual(self.check(f, "u1", "p1"), 0)
        self.assertEqual(self.check(f, "u2", "p2"), 0)
        self.assertEqual(self.passwd("-U", f)[0], 0)
        self.assertEqual(self.read("pw"), first, "a second -U leaves hashed entries alone")

    def prompt(self, args, answers):
        """Runs moth passwd on a pseudo-terminal, typing each answer after its prompt; returns (rc, output)."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(self.moth, [self.moth, "passwd", *args])
        out = b""
        deadline = time.monotonic() + DEADLINE_S
        pending = list(answers)
        while True:
            if pending and out.count(b"assword: ") > len(answers) - len(pending):
                os.write(fd, pending.pop(0).encode() + b"\n")
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                os.kill(pid, 9)
                raise AssertionError(f"moth passwd stopped talking; output {out!r}")
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode()

    def test_prompts_twice_without_echo(self):
        f = self.path("pw")
        rc, out = self.prompt(["-c", f, "alice"], ["s3cret", "s3cret"])
        self.assertEqual(rc, 0, out)
        self.assertNotIn("s3cret", out, "the terminal does not echo the password")
        self.assertIn("Password: ", out)
        self.assertIn("Reenter password: ", out)
        self.assertEqual(self.check(f, "alice", "s3cret"), 0)
        rc, out = self.prompt(["-c", f, "bob"], ["one", "two"])
        self.assertEqual(rc, 2)
        self.assertIn("Error: Passwords do not match.", out)
        rc, out = self.prompt([f, "bob"], [""])
        self.assertEqual(rc, 1)
        self.assertIn("Error: Empty password.", out)


if __name__ == "__main__":
    unittest.main()
