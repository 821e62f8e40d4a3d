# Python 2.7: runs Autobahn's fuzzing client, adding each server's "headers" from
# the spec to its upgrade request (the chat server wants Authorization).
# Usage: python2.7 wstest_with_headers.py SITE_DIR SPEC_FILE
import sys

sys.path.insert(0, sys.argv[1])

from autobahntestsuite import fuzzing, wstest  # noqa: E402

_next_server = fuzzing.FuzzingClientFactory.nextServer


def next_server(self):
    more = _next_server(self)
    if more:
        self.headers = self.spec["servers"][self.currServer].get("headers", {})
    return more


fuzzing.FuzzingClientFactory.nextServer = next_server
sys.argv = ["wstest", "-m", "fuzzingclient", "-s", sys.argv[2]]
wstest.run()
