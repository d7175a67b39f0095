"""The HTTP API after a SIGHUP (issue 18): /api/v1/listeners says which listeners accept anonymous clients (the
console's banner reads it), and a reload that changes auth.allow_anonymous must show there, not the start-up value.
"""

import os
import signal
import unittest

from broker import take_mothd_from_argv
from test_http import WAIT_S, HttpTestCase


class ReloadedAnonymousTest(HttpTestCase):
    def anonymous(self):
        return [entry["anonymous"] for entry in self.api("GET", "listeners")["listeners"]]

    def test_reload_of_allow_anonymous_shows_in_the_listeners(self):
        self.assertEqual(self.anonymous(), [True, True])
        config = os.path.join(self.broker.dir, "mothd.toml")
        with open(config, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("auth.allow_anonymous = true\n", text)
        with open(config, "w", encoding="utf-8") as f:
            f.write(text.replace("auth.allow_anonymous = true\n", "auth.allow_anonymous = false\n"))
        self.broker.proc.send_signal(signal.SIGHUP)
        # The reload reaches each worker by a post: poll the API until it shows (bounded).
        self.wait_until(lambda: self.anonymous() == [False, False], WAIT_S, "allow_anonymous = false in the API")


if __name__ == "__main__":
    take_mothd_from_argv()
    unittest.main()
