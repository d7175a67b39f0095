"""bench/workers.sh and bench/conn100k.sh end to end, short: workers.sh --quick with 1 and 2 workers on the pairs
scenario (2 s each) must print a table row per worker count, and conn100k.sh must hold 2,000 idle connections
opened from two source addresses (127.0.0.2, 127.0.0.3: `moth bench --bind`). No timing is asserted.

Binaries: MOTH and MOTHD from the environment (CTest sets both to this build's); the scripts take them as they are.
"""
import os
import re
import resource
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RUN_TIMEOUT_S = 120  # a Debug + ASan build on a loaded 2-core machine; both scripts take about 25 s there
CONNECTIONS = 2000


def script_env():
    env = dict(os.environ)
    for name in ("MOTH", "MOTHD"):
        if not env.get(name) or not os.access(env[name], os.X_OK):
            raise RuntimeError(f"set {name} to the binary (CTest does)")
    return env


class ScalingScriptsTest(unittest.TestCase):
    def run_script(self, *args):
        cmd = [os.path.join(ROOT, "bench", args[0]), *args[1:]]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=script_env(), cwd=ROOT)
        self.assertEqual(p.returncode, 0, f"{cmd}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p.stdout

    def test_workers_table_has_a_row_per_worker_count(self):
        out = self.run_script("workers.sh", "--quick", "--workers", "1 2", "--only", "^pairs$")
        self.assertIn("| scenario | workers | delivered msg/s | broker CPU µs/msg | speedup vs 1 worker |", out)
        rows = {}
        for line in out.splitlines():
            m = re.match(r"\| pairs \| (\d+)( \*)? \| ([\d,]+) \| ([\d.]+) \| ([\d.]+)× \|", line)
            if m:
                rows[int(m.group(1))] = (float(m.group(3).replace(",", "")), m.group(5))
        self.assertEqual(sorted(rows), [1, 2], out)
        for workers, (rate, _) in rows.items():
            self.assertGreater(rate, 0, f"{workers} worker(s) delivered nothing:\n{out}")
        self.assertEqual(rows[1][1], "1.00", out)  # the speedup's reference is itself

    @unittest.skipIf(resource.getrlimit(resource.RLIMIT_NOFILE)[1] < CONNECTIONS + 128,
                     "the hard descriptor limit is below 2,128")
    def test_conn100k_holds_2000_connections_from_two_addresses(self):
        out = self.run_script("conn100k.sh", "-c", str(CONNECTIONS), "--addrs", "2", "--hold", "2")
        self.assertIn("over 2 source address(es)", out)
        self.assertIn(f"held {CONNECTIONS} of {CONNECTIONS} connections", out)
        row = next((line for line in out.splitlines() if line.startswith("| 2,000 |")), None)
        self.assertIsNotNone(row, out)
        # RSS per connection and idle CPU are numbers; generators: every connection connected, none failed.
        cells = [c.strip() for c in row.strip("|").split("|")]
        float(cells[4].replace(",", ""))
        float(cells[6])
        self.assertEqual(cells[7], "2,000 / 0 / 0", out)


if __name__ == "__main__":
    unittest.main()
