// MQTT topic filters: validation and exact matching ([MQTT-4.7] wildcards, $-topics, shared subscriptions).

/** Why `filter` is not a valid topic filter, or null when it is. */
export function filterError(filter: string): string | null {
  if (filter.length === 0) return "The topic filter is empty.";
  if (new TextEncoder().encode(filter).length > 65535) return "The topic filter is longer than 65535 bytes.";
  if (filter.includes("\u0000")) return "The topic filter contains a NUL character.";
  let f = filter;
  if (f.startsWith("$share/")) {
    const rest = f.slice("$share/".length);
    const slash = rest.indexOf("/");
    if (slash <= 0) return "A shared subscription needs $share/<group>/<filter>.";
    const group = rest.slice(0, slash);
    if (/[+#]/.test(group)) return "A share group name cannot contain + or #.";
    f = rest.slice(slash + 1);
    if (f.length === 0) return "A shared subscription needs a filter after the group.";
  }
  const levels = f.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1))
      return "'#' must be a whole level and the last one (e.g. sensors/#).";
    if (l.includes("+") && l !== "+") return "'+' must be a whole level (e.g. sensors/+/temp).";
  }
  return null;
}

/** Why `topic` is not a valid topic name to publish to, or null when it is. */
export function topicError(topic: string): string | null {
  if (topic.length === 0) return "The topic is empty.";
  if (/[+#]/.test(topic)) return "A topic to publish to cannot contain the wildcards + or #.";
  if (topic.includes("\u0000")) return "The topic contains a NUL character.";
  return null;
}

/** True when `topic` matches `filter` exactly as a broker would route it. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter.startsWith("$share/")) {
    const rest = filter.slice("$share/".length);
    const slash = rest.indexOf("/");
    if (slash < 0) return false;
    filter = rest.slice(slash + 1);
  }
  const f = filter.split("/");
  const t = topic.split("/");
  // [MQTT-4.7.2-1] wildcards at the first level do not match topics beginning with '$'.
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true; // also matches the parent level: "a/#" matches "a"
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const REASONS: Record<number, string> = {
  0x80: "Unspecified error",
  0x81: "Malformed Packet",
  0x82: "Protocol Error",
  0x83: "Implementation specific error",
  0x84: "Unsupported Protocol Version",
  0x85: "Client Identifier not valid",
  0x86: "Bad User Name or Password",
  0x87: "Not authorized",
  0x88: "Server unavailable",
  0x89: "Server busy",
  0x8a: "Banned",
  0x8b: "Server shutting down",
  0x8c: "Bad authentication method",
  0x8d: "Keep Alive timeout",
  0x8e: "Session taken over",
  0x8f: "Topic Filter invalid",
  0x90: "Topic Name invalid",
  0x93: "Receive Maximum exceeded",
  0x94: "Topic Alias invalid",
  0x95: "Packet too large",
  0x96: "Message rate too high",
  0x97: "Quota exceeded",
  0x98: "Administrative action",
  0x99: "Payload format invalid",
  0x9a: "Retain not supported",
  0x9b: "QoS not supported",
  0x9c: "Use another server",
  0x9d: "Server moved",
  0x9e: "Shared Subscriptions not supported",
  0x9f: "Connection rate exceeded",
  0xa0: "Maximum connect time",
  0xa1: "Subscription Identifiers not supported",
  0xa2: "Wildcard Subscriptions not supported",
};

const V3_RETURN_CODES: Record<number, string> = {
  1: "Unacceptable protocol version",
  2: "Identifier rejected",
  3: "Server unavailable",
  4: "Bad user name or password",
  5: "Not authorized",
};

export function reasonName(code: number, protocolVersion: number): string {
  const name = protocolVersion === 5 ? REASONS[code] : (V3_RETURN_CODES[code] ?? REASONS[code]);
  return `${name ?? "Unknown reason"} (0x${code.toString(16).padStart(2, "0")})`;
}
