"""SCRAM-SHA-256 as MQTT 5.0 enhanced authentication against the real mothd (issue 20).

Credentials come from `moth passwd -H scram-sha-256`. Two clients log in: the `moth` CLI (`--auth-method
scram-sha-256`), and ScramClient below, an independent SCRAM-SHA-256 client written from RFC 5802 section 3 (the
algorithm) and RFC 7677 (SHA-256) with hashlib/hmac/base64 over raw MQTT 5.0 packets, which shows that mothd follows
the RFC and MQTT 5.0 section 4.12 byte for byte, not just agrees with Moth's own client. Every wait is bounded.

The exchange (MQTT 5.0 4.12, RFC 5802 section 5):
  CONNECT  Authentication Method "SCRAM-SHA-256", Authentication Data client-first "n,,n=user,r=<nonce>"
  AUTH 0x18 server-first "r=<nonce+server nonce>,s=<salt>,i=<iterations>"  [MQTT-4.12.0-2]
  AUTH 0x18 client-final "c=biws,r=<nonce>,p=<proof>"                      [MQTT-4.12.0-3]
  CONNACK 0x00 with server-final "v=<ServerSignature>"
Re-authentication (4.12.1): AUTH 0x19 client-first, AUTH 0x18, AUTH 0x18, AUTH 0x00 with server-final.
"""

import base64
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest

import paho.mqtt.client as mqtt

import jwtmint
from broker import HOST, Broker
from listenertest import WAIT_S, unique
from pahoclient import Client
from rawmqtt import mqtt_str, packet, split_packets, varint

METHOD = "SCRAM-SHA-256"
CONNACK, PUBLISH, SUBACK, DISCONNECT, AUTH = 2, 3, 9, 14, 15
SUCCESS, CONTINUE, REAUTH = 0x00, 0x18, 0x19
BAD_PASSWORD, NOT_AUTHORIZED, BAD_METHOD = 0x86, 0x87, 0x8C

# MQTT 5.0 2.2.2.2: property identifier -> how its value is encoded (enough for CONNACK, AUTH and DISCONNECT).
PROPERTY_KINDS = {0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "b", 0x0B: "v", 0x11: 4, 0x12: "s", 0x13: 2,
                  0x15: "s", 0x16: "b", 0x17: 1, 0x19: 1, 0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: 2, 0x22: 2,
                  0x23: 2, 0x24: 1, 0x25: 1, 0x26: "pair", 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}


def moth_path():
    return os.environ.get("MOTH") or os.path.join(os.path.dirname(os.environ["MOTHD"]), "..", "moth", "moth")


def read_varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def parse_properties(data, i):
    """The properties at data[i] as {identifier: value} (a user property as a list of pairs), and the index after."""
    length, i = read_varint(data, i)
    end, out = i + length, {}
    while i < end:
        pid, i = read_varint(data, i)
        kind = PROPERTY_KINDS[pid]
        if isinstance(kind, int):
            value, i = int.from_bytes(data[i:i + kind], "big"), i + kind
        elif kind == "v":
            value, i = read_varint(data, i)
        else:
            n = struct.unpack(">H", data[i:i + 2])[0]
            value, i = data[i + 2:i + 2 + n], i + 2 + n
            if kind == "pair":
                m = struct.unpack(">H", data[i:i + 2])[0]
                value, i = (value, data[i + 2:i + 2 + m]), i + 2 + m
                out.setdefault(pid, []).append(value)
                continue
        assert pid not in out, f"property 0x{pid:02x} twice"
        out[pid] = value
    assert i == end, "properties overrun"
    return out, i


def auth_properties(data):
    """Authentication Method and Authentication Data (MQTT 5.0 3.15.2.2.2, 3.15.2.2.3)."""
    p = b"\x15" + mqtt_str(METHOD) + b"\x16" + mqtt_str(data)
    return varint(len(p)) + p


def scram_connect(client_id, client_first, username=None):
    flags = 0x02 | (0x80 if username is not None else 0)  # clean start
    payload = mqtt_str(client_id) + (mqtt_str(username) if username is not None else b"")
    return packet(0x10, mqtt_str("MQTT") + bytes([5, flags]) + struct.pack(">H", 60) +
                  auth_properties(client_first) + payload)


def auth_packet(reason, data):
    return packet(0xF0, bytes([reason]) + auth_properties(data))


def h(data):
    return hashlib.sha256(data).digest()


def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def parse_attributes(message):
    """RFC 5802 section 5.1: "a=value,b=value" -> {"a": "value", ...}; values may contain '='."""
    return dict(part.split("=", 1) for part in message.split(","))


class ScramClient:
    """One raw MQTT 5.0 connection that logs in with SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677)."""

    def __init__(self, test, port, user, password):
        self.test, self.user, self.password = test, user, password
        self.sock = socket.create_connection((HOST, port), timeout=WAIT_S)
        test.addCleanup(self.sock.close)
        self.buffer = b""
        self.salted = None  # SaltedPassword of the last exchange

    # -- packets -------------------------------------------------------------------------------------------------
    def read(self):
        """The next packet: (type, reason code or None, properties, the packet's bytes)."""
        got = self.read_or_close()
        if got is None:
            self.test.fail("the connection closed")
        return got

    def read_or_close(self):
        """As read(), or None when the server closes the connection first."""
        while True:
            packets, _ = split_packets(self.buffer)
            if packets:
                p = packets[0]
                self.buffer = self.buffer[len(p):]
                return self.decode(p)
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk

    @staticmethod
    def decode(p):
        kind = p[0] >> 4
        _, i = read_varint(p, 1)
        if kind == CONNACK:
            props, _ = parse_properties(p, i + 2)
            return kind, p[i + 1], props, p
        if kind in (AUTH, DISCONNECT):
            if i == len(p):  # remaining length 0: 0x00 Success (3.15.2.1, 3.14.2.1)
                return kind, SUCCESS, {}, p
            props, _ = parse_properties(p, i + 1) if len(p) > i + 1 else ({}, None)
            return kind, p[i], props, p
        return kind, None, {}, p

    def expect(self, kind, reason, what):
        got = self.read()
        self.test.assertEqual((got[0], got[1]), (kind, reason), f"{what}: got {got[3].hex()}")
        return got[2]

    def assert_closed(self, what):
        """The server closed the connection, sending nothing more."""
        self.test.assertEqual(self.buffer + self.sock.recv(4096), b"", what)

    # -- SCRAM ---------------------------------------------------------------------------------------------------
    def client_first(self):
        # RFC 5802 5.1: the nonce is printable ASCII without ','. No channel binding: gs2 header "n,,". A user name
        # with ',' or '=' would be escaped as =2C / =3D; these tests use plain names.
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = f"n={self.user},r={self.nonce}"
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first, tamper=False):
        """RFC 5802 section 3: the proof for `server_first`; remembers what server-final must say."""
        self.server_first = server_first.decode()
        attrs = parse_attributes(self.server_first)
        self.test.assertTrue(attrs["r"].startswith(self.nonce) and len(attrs["r"]) > len(self.nonce),
                             "RFC 5802 5.1: the server's nonce extends ours")
        self.salt, self.iterations = base64.b64decode(attrs["s"], validate=True), int(attrs["i"])
        self.test.assertGreaterEqual(self.iterations, 4096, "RFC 7677 section 4: at least 4096 iterations")
        self.salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), self.salt, self.iterations)
        client_key = hmac256(self.salted, b"Client Key")
        self.stored_key = h(client_key)
        without_proof = "c=biws,r=" + attrs["r"]  # biws = base64("n,,"), the gs2 header
        auth_message = ",".join((self.first_bare, self.server_first, without_proof)).encode()
        proof = bytes(a ^ b for a, b in zip(client_key, hmac256(self.stored_key, auth_message)))
        if tamper:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        self.server_signature = hmac256(hmac256(self.salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def check_server_final(self, props, what):
        """RFC 5802 section 3: v is the ServerSignature; MQTT-4.12.0-5: the method is repeated."""
        self.test.assertEqual(props.get(0x15), METHOD.encode(), f"{what}: Authentication Method [MQTT-4.12.0-5]")
        self.test.assertEqual(props.get(0x16), b"v=" + base64.b64encode(self.server_signature), f"{what}: v=")

    def login(self, client_id=None, username=None, tamper=False):
        """CONNECT, AUTH 0x18 both ways; returns the final packet's (type, reason, properties)."""
        self.sock.sendall(scram_connect(client_id or unique("scram"), self.client_first(), username))
        props = self.expect(AUTH, CONTINUE, "server-first in AUTH 0x18 [MQTT-4.12.0-2]")
        self.test.assertEqual(props.get(0x15), METHOD.encode(), "AUTH's Authentication Method [MQTT-4.12.0-5]")
        self.sock.sendall(auth_packet(CONTINUE, self.client_final(props[0x16], tamper)))
        return self.read()[:3]

    def reauthenticate(self, tamper=False):
        """AUTH 0x19 with a new client-first, then as login(); returns the final packet's (type, reason, props)."""
        self.sock.sendall(auth_packet(REAUTH, self.client_first()))
        props = self.expect(AUTH, CONTINUE, "server-first in AUTH 0x18 (re-authentication)")
        self.sock.sendall(auth_packet(CONTINUE, self.client_final(props[0x16], tamper)))
        return self.read()[:3]

    # -- the connection keeps working ----------------------------------------------------------------------------
    def echo(self, topic, payload):
        """Subscribes to `topic`, publishes `payload` there and asserts it comes back."""
        self.sock.sendall(packet(0x82, struct.pack(">H", 7) + b"\x00" + mqtt_str(topic) + b"\x00"))
        self.test.assertEqual(self.read()[0], SUBACK)
        self.sock.sendall(packet(0x30, mqtt_str(topic) + b"\x00" + payload))
        got = self.read()
        self.test.assertEqual(got[0], PUBLISH)
        self.test.assertTrue(got[3].endswith(payload), got[3])


class ScramTestCase(unittest.TestCase):
    """mothd with a password file holding SCRAM entries; `extra` TOML added to [auth]."""

    USERS = {"alice": "s3cret-Alice", "bob": "bob pass, with = signs"}
    extra_auth = ""
    extra_toml = ""

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="moth-scram-")
        self.addCleanup(shutil.rmtree, self.files, ignore_errors=True)
        self.passwd = os.path.join(self.files, "passwd")
        for i, (user, password) in enumerate(self.USERS.items()):
            subprocess.run([moth_path(), "passwd", "-H", "scram-sha-256", *(["-c"] if i == 0 else []), "-b",
                            self.passwd, user, password], check=True, timeout=WAIT_S)
        self.broker = Broker(extra_toml=f'[auth]\npassword_file = "{self.passwd}"\n{self.extra_auth}{self.extra_toml}',
                             anonymous=None)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "broker", None) is not None:
            print(f"\n{self.id()} failed; broker log:\n{self.broker.log_tail(120)}\n", flush=True)
        return out

    def scram(self, user="alice", password=None, port=None):
        return ScramClient(self, port or self.port, user, self.USERS.get(user, "x") if password is None else password)

    def moth(self, *args, **kw):
        return subprocess.run([moth_path(), *args], capture_output=True, text=True, timeout=WAIT_S * 2, **kw)


class MothCliTest(ScramTestCase):
    def cli(self, command, user, password, *args):
        return self.moth(command, "-h", HOST, "-p", str(self.port), "-V", "5", "--auth-method", "scram-sha-256",
                         "-u", user, "-P", password, *args)

    def test_moth_pub_and_sub_with_scram(self):
        # Retained first, so the subscriber gets it whenever its SUBSCRIBE lands.
        pub = self.cli("pub", "alice", self.USERS["alice"], "-t", "scram/t", "-m", "hello", "-q", "1", "-r")
        self.assertEqual(pub.returncode, 0, pub.stderr)
        sub = self.cli("sub", "bob", self.USERS["bob"], "-t", "scram/#", "-C", "1", "-v", "-W", str(WAIT_S))
        self.assertEqual(sub.returncode, 0, sub.stderr)
        self.assertEqual(sub.stdout.strip(), "scram/t hello")

    def test_wrong_password_is_refused(self):
        # A wrong proof is "Bad User Name or Password": CONNACK 0x86, the CLI's exit code (mosquitto's convention).
        bad = self.cli("pub", "alice", "wrong", "-t", "scram/t", "-m", "x")
        self.assertEqual(bad.returncode, BAD_PASSWORD, bad.stderr)
        self.assertIn("Bad User Name or Password", bad.stderr)
        unknown = self.cli("pub", "nobody", "whatever", "-t", "scram/t", "-m", "x")
        self.assertEqual(unknown.returncode, BAD_PASSWORD, unknown.stderr)

    def test_moth_passwd_entry_is_the_rfc_credential(self):
        # The file holds RFC 5802's StoredKey and ServerKey: what the independent client derives from the password.
        with open(self.passwd, encoding="utf-8") as f:
            entry = dict(line.strip().split(":", 1) for line in f if line.strip())["alice"]
        _, scheme, iterations, salt, stored, server = entry.split("$")
        self.assertEqual((scheme, int(iterations)), ("scram-sha-256", 4096))
        self.assertEqual(len(base64.b64decode(salt)), 16)
        c = self.scram()
        kind, reason, props = c.login()
        self.assertEqual((kind, reason), (CONNACK, SUCCESS))
        self.assertEqual((c.salt, c.iterations), (base64.b64decode(salt), int(iterations)), "s= and i= of the file")
        self.assertEqual(base64.b64decode(stored), c.stored_key)
        self.assertEqual(base64.b64decode(server), hmac256(c.salted, b"Server Key"))


class IndependentClientTest(ScramTestCase):
    def test_exchange_follows_the_rfc(self):
        c = self.scram()
        kind, reason, props = c.login()
        self.assertEqual((kind, reason), (CONNACK, SUCCESS), "CONNACK 0x00 after the proof")
        c.check_server_final(props, "CONNACK")
        c.echo("scram/echo", b"after login")

    def test_password_with_commas_and_equals_signs(self):
        # Only the user name is escaped in the messages (RFC 5802 5.1); the password is PBKDF2 input as is.
        kind, reason, props = self.scram("bob").login()
        self.assertEqual((kind, reason), (CONNACK, SUCCESS))

    def test_wrong_proof(self):
        c = self.scram()
        kind, reason, _ = c.login(tamper=True)
        # The server rejects the exchange with a CONNACK of 0x80 or above and closes [MQTT-4.12.0-4]; mothd says
        # 0x86 Bad User Name or Password, as for a wrong plain password.
        self.assertEqual((kind, reason), (CONNACK, BAD_PASSWORD))
        c.assert_closed("closed after the refusal [MQTT-4.12.0-4]")
        kind, reason, _ = self.scram(password="not alice's").login()
        self.assertEqual((kind, reason), (CONNACK, BAD_PASSWORD), "a wrong password, honestly computed")

    def test_unknown_user_fails_at_the_proof_with_a_stable_salt(self):
        # An unknown user gets a server-first like anyone (salt and iterations from a per-process secret), so the
        # exchange does not tell who exists; the same name must get the same salt each time, or it would.
        salts = []
        for _ in range(2):
            c = self.scram("mallory", "guess")
            kind, reason, _ = c.login()
            self.assertEqual((kind, reason), (CONNACK, BAD_PASSWORD))
            salts.append((c.salt, c.iterations))
        self.assertEqual(salts[0], salts[1], "an unknown user's salt does not change between attempts")
        self.assertGreaterEqual(len(salts[0][0]), 16)

    def test_connect_user_name_must_be_the_scram_user(self):
        kind, reason, _ = self.scram().login(username="alice")
        self.assertEqual((kind, reason), (CONNACK, SUCCESS), "the same user in CONNECT and client-first")
        c = self.scram()
        c.sock.sendall(scram_connect(unique("scram"), c.client_first(), username="bob"))
        kind, reason, _, raw = c.read()
        self.assertEqual((kind, reason), (CONNACK, BAD_PASSWORD), f"CONNECT as bob, SCRAM as alice: {raw.hex()}")

    def test_reauthentication(self):
        c = self.scram()
        kind, reason, props = c.login()
        self.assertEqual((kind, reason), (CONNACK, SUCCESS))
        c.echo("scram/before", b"before")
        # MQTT-4.12.1-1: AUTH 0x19 with the same method; the server answers AUTH 0x18, then AUTH 0x00.
        kind, reason, props = c.reauthenticate()
        self.assertEqual((kind, reason), (AUTH, SUCCESS), "AUTH 0x00 ends a re-authentication")
        c.check_server_final(props, "AUTH 0x00")
        c.echo("scram/after", b"after re-authentication")
        kind, reason, props = c.reauthenticate()
        self.assertEqual((kind, reason), (AUTH, SUCCESS), "a second re-authentication")
        c.check_server_final(props, "AUTH 0x00")

    def test_failed_reauthentication_disconnects(self):
        c = self.scram()
        self.assertEqual(c.login()[:2], (CONNACK, SUCCESS))
        # MQTT-4.12.1-2: DISCONNECT with an appropriate reason code, then close. 0x86 (what a failed CONNECT gets)
        # is not a DISCONNECT reason code [MQTT-3.14.2-1]: 0x87 Not authorized is the one that fits.
        c.sock.sendall(auth_packet(REAUTH, c.client_first()))
        props = c.expect(AUTH, CONTINUE, "server-first in AUTH 0x18 (re-authentication)")
        c.sock.sendall(auth_packet(CONTINUE, c.client_final(props[0x16], tamper=True)))
        got = c.read_or_close()
        self.assertIsNotNone(got, "a DISCONNECT before the close [MQTT-4.12.1-2]; the connection just closed")
        kind, reason, _, raw = got
        self.assertEqual((kind, reason), (DISCONNECT, NOT_AUTHORIZED), raw.hex())
        c.assert_closed("closed after the failed re-authentication [MQTT-4.12.1-2]")

    def test_reauthentication_cannot_change_the_user(self):
        c = self.scram()
        self.assertEqual(c.login()[:2], (CONNACK, SUCCESS))
        c.user, c.password = "bob", self.USERS["bob"]  # bob's real credentials, on alice's connection
        kind, reason, _ = c.reauthenticate()
        self.assertEqual((kind, reason), (DISCONNECT, NOT_AUTHORIZED), "re-authentication as another user")
        c.assert_closed("closed after the failed re-authentication [MQTT-4.12.1-2]")

    def test_plain_passwords_for_scram_entries(self):
        # docs/security.md "Passwords": a SCRAM entry also checks a plain CONNECT password (mothd derives the
        # credential again), so 3.1.1 devices and 5.0 clients without enhanced authentication log in too.
        for version, ok, refused in ((mqtt.MQTTv311, 0, 4), (mqtt.MQTTv5, 0, BAD_PASSWORD)):
            for password, expected in ((self.USERS["alice"], ok), ("wrong", refused)):
                c = Client(self.port, version)
                self.addCleanup(c.stop)
                c.c.reconnect_delay_set(60, 120)
                c.c.username_pw_set("alice", password)
                self.assertEqual(c.connect(expect_rc=None)[1], expected, f"version {version}, {password!r}")


class ChainWithoutFileTest(ScramTestCase):
    # A second listener whose chain is JWT only; the default listener (Broker's) keeps [auth]'s chain.
    extra_toml = ""

    def setUp(self):
        secret = os.path.join(tempfile.gettempdir(), unique("moth-scram-secret-"))
        with open(secret, "w", encoding="utf-8") as f:
            f.write("secret-for-the-jwt-only-listener")
        self.addCleanup(os.unlink, secret)
        self.extra_toml = (f'[auth.jwt]\nsecret_file = "{secret}"\n'
                           '[[listener]]\nname = "jwt-only"\nkind = "mqtt"\nbind = "127.0.0.1"\nport = 0\n'
                           'auth_providers = ["jwt"]\n')
        self.extra_auth = 'providers = ["file", "jwt"]\n'
        super().setUp()
        with open(os.path.join(self.broker.dir, "ports"), encoding="utf-8") as f:
            self.ports = {fields[0]: int(fields[3]) for fields in map(str.split, f) if len(fields) == 4}

    def test_scram_refused_where_the_chain_lacks_the_file(self):
        c = self.scram(port=self.ports["jwt-only"])
        c.sock.sendall(scram_connect(unique("scram"), c.client_first()))
        kind, reason, _, raw = c.read()
        # MQTT-4.12.0-1: a method the server does not support here: CONNACK 0x8C (or 0x87), then close.
        self.assertEqual((kind, reason), (CONNACK, BAD_METHOD), raw.hex())
        c.assert_closed("closed after 0x8C [MQTT-4.12.0-1]")
        other = [p for name, p in self.ports.items() if name != "jwt-only"]
        self.assertEqual(len(other), 1, self.ports)
        self.assertEqual(self.scram(port=other[0]).login()[:2], (CONNACK, SUCCESS), "control: file in the chain")
        # The jwt-only listener takes a token, so it is open to credentials at all.
        token = jwtmint.hs256({"sub": "t", "exp": 2**31 - 1}, "secret-for-the-jwt-only-listener")
        c = Client(self.ports["jwt-only"], mqtt.MQTTv5)
        self.addCleanup(c.stop)
        c.c.username_pw_set("t", token)
        self.assertEqual(c.connect(expect_rc=None)[1], 0)


if __name__ == "__main__":
    unittest.main()
