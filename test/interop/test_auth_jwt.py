"""JSON Web Tokens as MQTT credentials against the real mothd (issue 20, [auth.jwt], docs/security.md "JWT").

Tokens are minted here (jwtmint.py: HS256 with hmac, RS256/ES256 with the openssl command), never by mothd's code.
CONNACKs are read by python3-paho-mqtt 1.6.1 for 3.1.1 and 5.0; PUBACK reason codes, which paho 1.6.1 does not pass
to its callbacks, by raw sockets. A refused token is "Bad User Name or Password": 5.0 CONNACK 0x86, 3.1.1 return
code 4 (docs/security.md "Denials"). Every wait is bounded; nothing sleeps to synchronise.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import jwtmint
from broker import HOST, Broker
from listenertest import WAIT_S, unique
from pahoclient import V5, V311, Client
from rawmqtt import connect_packet, publish_packet, read_one

SECRET = "moth-interop-shared-secret-0123456789"
BAD_PASSWORD = 0x86  # 5.0 CONNACK; 3.1.1 return code 4
NOT_AUTHORIZED = 0x87
RC311 = {0: 0, 0x86: 4, 0x87: 5}  # the 3.1.1 return code a 5.0 reason code maps to (docs/security.md)

_keys_dir = None
RSA = EC = EC2 = None


def setUpModule():
    # Key generation is the slow part: once per module.
    global _keys_dir, RSA, EC, EC2
    _keys_dir = tempfile.mkdtemp(prefix="moth-jwt-keys-")
    RSA = jwtmint.KeyPair(_keys_dir, "rsa", "RSA")
    EC = jwtmint.KeyPair(_keys_dir, "ec", "EC")
    EC2 = jwtmint.KeyPair(_keys_dir, "ec2", "EC")


def tearDownModule():
    shutil.rmtree(_keys_dir, ignore_errors=True)


def claims(sub="sensor-7", ttl=3600, **extra):
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + ttl, **extra}


def toml_value(v):
    return json.dumps(v)  # TOML basic strings, integers and arrays of strings are JSON-compatible


class JwtTestCase(unittest.TestCase):
    """Starts mothd with [auth.jwt] (and maybe a password file) from start(); helpers for paho and raw clients."""

    broker = None

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="moth-jwt-")
        self.addCleanup(shutil.rmtree, self.files, ignore_errors=True)

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and self.broker is not None:
            print(f"\n{self.id()} failed; broker log:\n{self.broker.log_tail(120)}\n", flush=True)
        return out

    def file(self, name, content):
        path = os.path.join(self.files, name)
        with open(path, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        return path

    def start(self, jwt, acl="", providers=None, passwd=None):
        """mothd with [auth.jwt] keys from the dict `jwt`; acl_file from `acl`; password_file from `passwd`."""
        auth = f'[auth]\nacl_file = "{self.file("acl", acl)}"\n'
        if passwd is not None:
            auth += f'password_file = "{passwd}"\n'
        if providers is not None:
            auth += f"providers = {toml_value(providers)}\n"
        auth += "[auth.jwt]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in jwt.items())
        self.broker = Broker(extra_toml=auth, anonymous=None)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.broker.stop)
        self.broker.start()
        self.port = self.broker.port

    def secret_broker(self, **jwt):
        self.start({"secret_file": self.file("secret", SECRET + "\n"), **jwt})

    # -- clients ------------------------------------------------------------------------------------------------
    def paho(self, version, username=None, password=None, client_id=None):
        """A paho client after its CONNACK: (client, reason code as int)."""
        c = Client(self.port, version, client_id)
        c.c.reconnect_delay_set(60, 120)  # a refused or closed client must not come back during the test
        self.addCleanup(c.stop)
        if username is not None or password is not None:
            c.c.username_pw_set(username, password)
        return c, c.connect(expect_rc=None)[1]

    def assert_connack(self, code5, username=None, password=None, msg=""):
        """The 5.0 CONNACK is code5 and the 3.1.1 one its return code (3.1.1 table 3.1)."""
        for version, expected in ((V5, code5), (V311, RC311[code5])):
            _, rc = self.paho(version, username, password)
            self.assertEqual(rc, expected, f"{msg} (MQTT {'5.0' if version == V5 else '3.1.1'})")

    def raw5(self, username, password, client_id=None):
        """A raw 5.0 connection, asserted accepted."""
        s = socket.create_connection((HOST, self.port), timeout=WAIT_S)
        self.addCleanup(s.close)
        s.sendall(connect_packet(client_id or unique("raw"), version=5, username=username, password=password))
        connack = self.read_packet(s)
        self.assertEqual((connack[0], connack[3]), (0x20, 0), "raw 5.0 CONNACK")
        return s

    def read_packet(self, s):
        return read_one(s)

    def puback_code(self, s, topic, packet_id):
        """Publishes at QoS 1 on a raw 5.0 connection and returns the PUBACK's reason code."""
        s.sendall(publish_packet(topic, b"x", qos=1, packet_id=packet_id, version=5))
        p = self.read_packet(s)
        self.assertEqual((p[0], p[2:4]), (0x40, packet_id.to_bytes(2, "big")), f"PUBACK for {topic}")
        return p[4] if len(p) > 4 else 0  # a remaining length of 2 means 0x00 Success (MQTT 5.0 3.4.2.1)

    def assert_published(self, s, topic, packet_id, msg):
        # 0x10 No matching subscribers is a success too (MQTT 5.0 3.4.2.1): nobody subscribes in these tests.
        self.assertIn(self.puback_code(s, topic, packet_id), (0x00, 0x10), msg)


class ValidTokensTest(JwtTestCase):
    ACL = "user sensor-7\ntopic write x/#\n\nuser connect-name\ntopic write y/#\n"

    def secret_broker(self, **jwt):
        self.start({"secret_file": self.file("secret", SECRET + "\n"), **jwt}, acl=self.ACL)

    def check_identity(self, token):
        """The token's sub, not the CONNECT's User Name, is the user the acl_file sees."""
        for version in (V5, V311):
            _, rc = self.paho(version, "connect-name", token)
            self.assertEqual(rc, 0, "a valid token connects")
        s = self.raw5("connect-name", token)
        self.assert_published(s, "x/1", 1, "sensor-7 may write x/#")
        self.assertEqual(self.puback_code(s, "y/1", 2), NOT_AUTHORIZED, "connect-name's rules do not apply")

    def test_hs256_from_a_secret_file(self):
        self.secret_broker()
        self.check_identity(jwtmint.hs256(claims(), SECRET))

    def test_rs256_from_a_public_key_file(self):
        self.start({"public_key_file": RSA.public}, acl=self.ACL)
        self.check_identity(RSA.sign(claims()))

    def test_es256_from_a_public_key_file(self):
        self.start({"public_key_file": EC.public}, acl=self.ACL)
        self.check_identity(EC.sign(claims()))


class RefusedTokensTest(JwtTestCase):
    def test_expired(self):
        self.secret_broker()
        self.assert_connack(0, "u", jwtmint.hs256(claims(ttl=3600), SECRET), "control: a token valid for an hour")
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(ttl=-60), SECRET), "exp a minute ago")
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(ttl=0), SECRET), "exp now (RFC 7519 4.1.4)")

    def test_not_yet_valid(self):
        self.secret_broker()
        now = int(time.time())
        self.assert_connack(0, "u", jwtmint.hs256(claims(nbf=now - 5), SECRET), "control: nbf in the past")
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(nbf=now + 3600), SECRET), "nbf in an hour")

    def test_wrong_signature(self):
        self.secret_broker()
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(), SECRET + "x"), "another secret")
        good = jwtmint.hs256(claims(sub="alice"), SECRET)
        header, _, signature = good.split(".")
        forged = f"{header}.{jwtmint.b64url(json.dumps(claims(sub='root')))}.{signature}"
        self.assert_connack(BAD_PASSWORD, "u", forged, "claims changed after signing")
        self.assert_connack(BAD_PASSWORD, "u", EC2.sign(claims()), "ES256 with a key the broker does not have")

    def test_alg_none_is_refused(self):
        self.secret_broker()
        # RFC 7518 3.6 / RFC 8725 3.1: an unsecured token is never accepted, with or without a signature segment.
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.unsigned(claims()), "alg none, empty signature")
        sig = jwtmint.hs256(claims(), SECRET).split(".")[2]
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.unsigned(claims(), sig), "alg none with a signature")

    def test_algorithm_not_in_algorithms(self):
        # A JWKS with an HS256 (oct) and an ES256 key; only ES256 is accepted.
        doc = json.loads(jwtmint.jwks((EC, "ec")))
        doc["keys"].append({"kty": "oct", "kid": "hs", "alg": "HS256", "k": jwtmint.b64url(SECRET)})
        self.start({"jwks_file": self.file("jwks.json", json.dumps(doc)), "algorithms": ["ES256"]})
        self.assert_connack(0, "u", EC.sign(claims(), kid="ec"), "control: ES256 is in algorithms")
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(), SECRET, kid="hs"), "HS256 is not")

    def test_public_key_is_never_an_hmac_secret(self):
        # The RS256 key confusion (RFC 8725 2.1): an HS256 token "signed" with the PEM text of the public key.
        self.start({"public_key_file": RSA.public})
        self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(), RSA.public_pem()), "HS256 with the PEM")
        self.assert_connack(0, "u", RSA.sign(claims()), "control: RS256")

    def test_issuer_and_audience(self):
        self.secret_broker(issuer="https://id.example", audience="moth")
        ok = {"iss": "https://id.example", "aud": "moth"}
        self.assert_connack(0, "u", jwtmint.hs256(claims(**ok), SECRET), "control: iss and aud as configured")
        self.assert_connack(0, "u", jwtmint.hs256(claims(**{**ok, "aud": ["other", "moth"]}), SECRET), "aud array")
        for what, bad in (("iss", {**ok, "iss": "https://evil.example"}), ("aud", {**ok, "aud": "other"}),
                          ("no aud", {"iss": ok["iss"]}), ("no iss", {"aud": "moth"})):
            self.assert_connack(BAD_PASSWORD, "u", jwtmint.hs256(claims(**bad), SECRET), what)


class AclClaimTest(JwtTestCase):
    def test_rules_from_the_token_replace_the_acl_file(self):
        # The acl_file would let sensor-7 write anything; the token's rules replace it for this client.
        self.start({"secret_file": self.file("secret", SECRET), "acl_claim": "acl"},
                   acl="user sensor-7\ntopic readwrite #\n")
        token = jwtmint.hs256(claims(acl={"pub": ["devices/%c/#"], "sub": ["cmd/%c"]}), SECRET)
        s = self.raw5("u", token, client_id="dev1")
        self.assert_published(s, "devices/dev1/temp", 1, "pub devices/%c/# with %c = dev1")
        self.assertEqual(self.puback_code(s, "devices/dev2/temp", 2), NOT_AUTHORIZED, "another client's topic")
        self.assertEqual(self.puback_code(s, "other", 3), NOT_AUTHORIZED, "the acl_file's # does not apply")
        for version, refused in ((V5, NOT_AUTHORIZED), (V311, 0x80)):
            c, rc = self.paho(version, "u", token, client_id="dev1")
            self.assertEqual(rc, 0)
            self.assertEqual(c.subscribe("cmd/dev1", 1), [1], "sub cmd/%c")
            self.assertEqual(c.subscribe("cmd/dev2", 1), [refused], "SUBACK failure (MQTT 3.9.3)")
            c.disconnect()

    def test_an_unreadable_acl_claim_is_refused(self):
        self.start({"secret_file": self.file("secret", SECRET), "acl_claim": "acl"})
        token = jwtmint.hs256(claims(acl={"pub": ["a/#/b"]}), SECRET)
        self.assert_connack(NOT_AUTHORIZED, "u", token, "a rule that is not a topic filter")


class TokenInUserNameTest(JwtTestCase):
    def test_token_as_the_user_name(self):
        self.secret_broker(**{"from": "username"})
        token = jwtmint.hs256(claims(), SECRET)
        self.assert_connack(0, token, None, "token in the User Name, no password")
        self.assert_connack(0, token, "anything", "token in the User Name, a password ignored")
        self.assert_connack(BAD_PASSWORD, "sensor-7", token, "token in the password only")
        self.assert_connack(BAD_PASSWORD, jwtmint.hs256(claims(), "wrong"), None, "a bad token in the User Name")


class KeyRotationTest(JwtTestCase):
    def reload(self):
        """SIGHUP, then wait for mothd to say it applied the configuration (one more such line in its log)."""
        count = self.broker.log().count("reload: configuration applied")
        self.broker.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT_S
        while self.broker.log().count("reload: configuration applied") <= count:
            self.assertNotIn("keeping the running", self.broker.log(), "the reload was refused")
            self.assertLess(time.monotonic(), deadline, "no 'reload: configuration applied' in the log")
            time.sleep(0.02)  # polling interval of a condition wait

    def test_jwks_rotation_on_sighup(self):
        jwks = self.file("jwks.json", jwtmint.jwks((EC, "2026-old")))
        self.start({"jwks_file": jwks})
        old = EC.sign(claims(), kid="2026-old")
        new = RSA.sign(claims(), kid="2026-new")  # RS256 from a JWK's n and e
        self.assert_connack(0, "u", old, "the old key")
        self.assert_connack(BAD_PASSWORD, "u", new, "a kid the JWKS does not have yet")
        # Both keys while clients move over (written whole, then renamed: mothd never reads half a file).
        self.file("jwks.tmp", jwtmint.jwks((EC, "2026-old"), (RSA, "2026-new")))
        os.replace(os.path.join(self.files, "jwks.tmp"), jwks)
        self.reload()
        self.assert_connack(0, "u", new, "the new key after SIGHUP")
        self.assert_connack(0, "u", old, "the old key, still listed")
        self.file("jwks.tmp", jwtmint.jwks((RSA, "2026-new")))
        os.replace(os.path.join(self.files, "jwks.tmp"), jwks)
        self.reload()
        self.assert_connack(BAD_PASSWORD, "u", old, "the old key, removed")
        self.assert_connack(0, "u", new, "the new key")
        # The new key under the removed kid: no key answers to that kid any more.
        self.assert_connack(BAD_PASSWORD, "u", RSA.sign(claims(), kid="2026-old"), "an unknown kid")


class ExpiryDuringConnectionTest(JwtTestCase):
    LEAD_S = 6  # long enough for a Debug + ASan broker to accept both clients first

    def test_connection_closed_when_the_token_expires(self):
        self.secret_broker()
        exp = int(time.time()) + self.LEAD_S
        token = jwtmint.hs256({"sub": "sensor-7", "exp": exp}, SECRET)
        five, rc5 = self.paho(V5, "u", token)
        three, rc3 = self.paho(V311, "u", token)
        raw = self.raw5("u", token)
        self.assertEqual((rc5, rc3), (0, 0), "connected before exp")
        # 5.0: DISCONNECT 0x87 Not authorized, a DISCONNECT reason code [MQTT-3.14.2-1], as bytes and as paho sees it.
        raw.settimeout(self.LEAD_S + WAIT_S)
        disconnect = self.read_packet(raw)
        self.assertGreaterEqual(time.time(), exp - 1, "closed before the token expired")
        self.assertEqual((disconnect[0], disconnect[2]), (0xE0, NOT_AUTHORIZED), f"DISCONNECT {disconnect.hex()}")
        self.assertEqual(raw.recv(4096), b"", "nothing after DISCONNECT [MQTT-3.14.4-1], then closed [MQTT-3.14.4-2]")
        five.wait(lambda: five.disconnected is not None, "the 5.0 client's disconnect", WAIT_S)
        rc = int(getattr(five.disconnected, "value", five.disconnected))
        if disconnect[1] > 2:
            self.assertEqual(rc, NOT_AUTHORIZED, "paho's on_disconnect reason code")
        else:
            # paho 1.6.1 reads a DISCONNECT's reason code only when properties follow it (remaining length > 2);
            # without, it reports the closed socket: MQTT_ERR_CONN_LOST. The bytes above are the real check.
            self.assertEqual(rc, 7, "paho 1.6.1 on a DISCONNECT without properties")
        # 3.1.1 has no server DISCONNECT: the connection is just closed (paho: MQTT_ERR_CONN_LOST).
        three.wait(lambda: three.disconnected is not None, "the 3.1.1 client's disconnect", WAIT_S)
        self.assertEqual(three.disconnected, 7, "MQTT_ERR_CONN_LOST")
        self.assert_connack(BAD_PASSWORD, "u", token, "the same token after exp")

    def test_a_raw_311_connection_is_closed_without_a_packet(self):
        self.secret_broker()
        exp = int(time.time()) + self.LEAD_S
        s = socket.create_connection((HOST, self.port), timeout=self.LEAD_S + WAIT_S)
        self.addCleanup(s.close)
        s.sendall(connect_packet(unique("raw"), version=4, username="u",
                                 password=jwtmint.hs256({"sub": "s", "exp": exp}, SECRET)))
        self.assertEqual(self.read_packet(s), b"\x20\x02\x00\x00")
        self.assertEqual(s.recv(4096), b"", "closed, nothing sent")
        self.assertGreaterEqual(time.time(), exp - 1, "closed before the token expired")


class ChainWithFileTest(JwtTestCase):
    def test_file_then_jwt(self):
        passwd = os.path.join(self.files, "passwd")
        subprocess.run(["mosquitto_passwd", "-c", "-b", passwd, "alice", "alice-pw"], check=True, timeout=WAIT_S)
        self.start({"secret_file": self.file("secret", SECRET)}, providers=["file", "jwt"], passwd=passwd)
        self.assert_connack(0, "alice", "alice-pw", "a password-file user with its password")
        self.assert_connack(BAD_PASSWORD, "alice", "nope", "the file denies a wrong password: jwt is not asked")
        self.assert_connack(0, "device-9", jwtmint.hs256(claims(sub="device-9"), SECRET), "a token user")
        self.assert_connack(BAD_PASSWORD, "device-9", "garbage", "neither a known user nor a token")
        self.assert_connack(BAD_PASSWORD, "device-9", jwtmint.hs256(claims(), "wrong"), "a token with a bad signature")
        self.assert_connack(NOT_AUTHORIZED, None, None, "anonymous: not allowed by a config file")


if __name__ == "__main__":
    unittest.main()
