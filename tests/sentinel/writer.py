"""Writes through redis-py's Sentinel discovery until told to stop, the way
an application does: every SET that was acknowledged is counted, errors
(the primary gone, a replica that is read-only for now) are retried after a
short pause with a fresh discovery. Prints one JSON line at the end:
acknowledged writes, errors, and the longest time without a successful
write (what the application saw of the failover).

usage: writer.py <sentinel port>,<sentinel port>,... <seconds> <key prefix>
"""

import json
import sys
import time

from redis.exceptions import ConnectionError, ReadOnlyError, ResponseError, TimeoutError
from redis.sentinel import MasterNotFoundError, Sentinel


def main():
    ports = [int(p) for p in sys.argv[1].split(",")]
    seconds = float(sys.argv[2])
    prefix = sys.argv[3]
    sentinel = Sentinel([("127.0.0.1", p) for p in ports], socket_timeout=0.5)
    master = sentinel.master_for("mymaster", socket_timeout=0.5, socket_connect_timeout=0.5)
    acked = []
    errors = 0
    last_ok = time.monotonic()
    longest_gap = 0.0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        try:
            master.set(f"{prefix}:{i}", i)
            acked.append(i)
            now = time.monotonic()
            longest_gap = max(longest_gap, now - last_ok)
            last_ok = now
        except (ConnectionError, TimeoutError, ReadOnlyError, ResponseError, MasterNotFoundError):
            errors += 1
            time.sleep(0.02)
    print(json.dumps({"acked": acked, "errors": errors, "longest_gap_s": longest_gap}))


if __name__ == "__main__":
    main()
