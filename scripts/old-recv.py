#!/usr/bin/env python3
"""old-recv.py URL CHANNEL: what the 2017 Python module's receiver did, for
scripts/bench-wan: GET the channel's messages with curr_key, limit_count
1000 and a timeout (requests.get, a new connection each time), write each
message as one line, move on to next_key; stops at an empty answer (the
backlog drained).  Token from FLESPI_TOKEN."""
import json
import os
import sys

import requests

url, chan = sys.argv[1], sys.argv[2]
hdr = {"Authorization": "FlespiToken " + os.environ["FLESPI_TOKEN"]}
key, out = 0, sys.stdout
while True:
    r = requests.get("%s/gw/channels/%s/messages" % (url, chan), headers=hdr,
                     params={"data": json.dumps({"curr_key": key,
                                                 "limit_count": 1000,
                                                 "timeout": 0})},
                     timeout=30)
    r.raise_for_status()
    a = r.json()
    if not a["result"]:
        break
    for m in a["result"]:
        out.write(json.dumps(m, separators=(",", ":")) + "\n")
    key = a["next_key"]
out.flush()
