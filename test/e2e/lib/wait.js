// Waiting on conditions with a deadline: the only way these tests synchronise (no fixed sleeps).

import { setTimeout as delay } from 'node:timers/promises';

export const DEFAULT_TIMEOUT_MS = 20_000;

// Polls `predicate` (sync or async) until it returns a truthy value, which is returned. An exception thrown by the
// predicate ends the wait at once. After `timeoutMs` it throws "timed out after N ms waiting for <what>", with
// `detail()` appended when given (what was seen instead).
export async function waitFor(predicate, { timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a condition', detail } = {}) {
  const deadline = Date.now() + timeoutMs;
  let pauseMs = 2;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `; ${detail()}` : ''}`);
    }
    await delay(pauseMs); // polling interval of a condition wait, not a synchronisation sleep
    pauseMs = Math.min(pauseMs * 2, 50);
  }
}

// Settles like `promise`, or rejects with "timed out after N ms: <what>" when it has not settled by then.
export async function withDeadline(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// A unique suffix for topics and client ids, so tests sharing one broker never see each other's messages.
let counter = 0;
export function unique(prefix = 't') {
  counter += 1;
  return `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${counter}`;
}
