"""MQTT packets as bytes, for tests that talk to mothd over raw sockets (WebSocket framing, hostile clients)."""

import struct

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def connect_packet(client_id, version=4, receive_maximum=None, keepalive=60, username=None, password=None):
    props = b""
    if version == 5:
        p = b"" if receive_maximum is None else b"\x21" + struct.pack(">H", receive_maximum)
        props = varint(len(p)) + p
    name = "MQIsdp" if version == 3 else "MQTT"  # MQTT 3.1 names the protocol MQIsdp
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    payload = mqtt_str(client_id)
    if username is not None:
        payload += mqtt_str(username)
    if password is not None:
        payload += mqtt_str(password)
    return packet(0x10, mqtt_str(name) + bytes([version, flags]) + struct.pack(">H", keepalive) + props + payload)


def subscribe_packet(packet_id, topic, qos):
    return packet(0x82, struct.pack(">H", packet_id) + mqtt_str(topic) + bytes([qos]))


def publish_packet(topic, payload, qos=0, packet_id=0, version=4):
    body = mqtt_str(topic) + (struct.pack(">H", packet_id) if qos else b"") + (b"\x00" if version == 5 else b"")
    return packet(0x30 | (qos << 1), body + payload)


def split_packets(data):
    """The whole MQTT packets in `data`, and the bytes left over (a packet cut short)."""
    out = []
    i = 0
    while i < len(data):
        length, mult, j = 0, 1, i + 1
        while j < len(data):
            length += (data[j] & 0x7F) * mult
            mult *= 128
            j += 1
            if data[j - 1] & 0x80 == 0:
                break
        else:
            break
        if j + length > len(data):
            break
        out.append(data[i:j + length])
        i = j + length
    return out, data[i:]


def packet_type(p):
    return p[0] >> 4


def read_one(s):
    """Reads exactly one whole MQTT packet from blocking socket `s` (its timeout applies), nothing after it, so the
    next call finds the next packet. AssertionError when the peer closes first."""
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise AssertionError(f"connection closed after {data!r}")
            data += chunk
        return data
    head = exact(1)
    length, mult = 0, 1
    while True:
        b = exact(1)
        head += b
        length += (b[0] & 0x7F) * mult
        mult *= 128
        if b[0] & 0x80 == 0:
            break
    return head + exact(length)
