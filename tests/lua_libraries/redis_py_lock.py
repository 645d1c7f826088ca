"""redis-py's Lock (Lua scripts for release/extend/reacquire, run with EVALSHA and EVAL on
NOSCRIPT) against a server on 127.0.0.1:PORT. Run by tests/lua_libraries.rs against
redis-server first (the script must pass there) and then against ember-server.

Usage: python3 redis_py_lock.py PORT. Exit 0 and a last line "redis-py lock: N checks passed".
"""
import sys
import threading
import time

import redis
from redis.exceptions import LockError, LockNotOwnedError

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


r.flushall()
r.script_flush()

# Acquire, hold, contend without blocking, release.
lock = r.lock("res", timeout=5)
check(lock.acquire(blocking=False), "first acquire")
check(r.get("res") == lock.local.token, "the token is stored")
check(lock.locked() and lock.owned(), "locked and owned")
other = r.lock("res", timeout=5)
check(not other.acquire(blocking=False), "a second lock cannot acquire")
check(not other.owned(), "the second lock does not own it")
t0 = time.monotonic()
check(not other.acquire(blocking=True, blocking_timeout=0.3), "blocking acquire times out")
check(time.monotonic() - t0 >= 0.15, "it waited for the blocking timeout")

# extend (adds to the TTL) and extend with replace_ttl, reacquire (resets the TTL): Lua scripts.
check(lock.extend(10), "extend")
ttl = r.pttl("res")
# Above 11 s: extend added to what was left (replacing would leave at most 10 s); the slack
# covers the time the server took to run the first script.
check(11000 < ttl <= 15000, "extend adds 10 s to the 5 s TTL: %d" % ttl)
check(lock.extend(2, replace_ttl=True), "extend with replace_ttl")
ttl = r.pttl("res")
check(1000 < ttl <= 2000, "replace_ttl sets 2 s: %d" % ttl)
check(lock.reacquire(), "reacquire")
ttl = r.pttl("res")
check(4000 < ttl <= 5000, "reacquire resets the 5 s timeout: %d" % ttl)

# A lock that is not the owner cannot release, extend or reacquire (the scripts return 0).
thief = r.lock("res", timeout=5)
for name, op in [("release", thief.release), ("extend", lambda: thief.extend(5)),
                 ("reacquire", thief.reacquire)]:
    thief.local.token = b"not-the-token"  # release clears it client-side
    try:
        op()
        check(False, "%s by a non-owner succeeded" % name)
    except LockNotOwnedError:
        check(True, name)
check(r.get("res") == lock.local.token, "the owner still holds it")

lock.release()
check(r.get("res") is None, "released")
try:
    lock.release()
    check(False, "releasing an unlocked lock succeeded")
except LockError:
    check(True, "double release")

# Expiry: a lock that timed out can be taken by another client, and the old owner cannot
# release or extend it any more.
short = r.lock("exp", timeout=0.2)
check(short.acquire(blocking=False), "short lock")
short_token = short.local.token
time.sleep(0.35)
taker = r.lock("exp", timeout=5)
check(taker.acquire(blocking=False), "taken after expiry")
try:
    short.release()
    check(False, "the expired owner released the new owner's lock")
except LockNotOwnedError:
    check(True, "expired owner cannot release")
short.local.token = short_token
try:
    short.extend(5)
    check(False, "the expired owner extended the new owner's lock")
except LockNotOwnedError:
    check(True, "expired owner cannot extend")
taker.release()

# The scripts run after SCRIPT FLUSH too (EVALSHA gets NOSCRIPT, redis-py falls back to EVAL).
held = r.lock("flush", timeout=5)
check(held.acquire(blocking=False), "acquire before flush")
r.script_flush()
check(held.extend(1), "extend after SCRIPT FLUSH")
held.release()
check(r.get("flush") is None, "release after SCRIPT FLUSH")

# Contention: threads increment a counter inside the lock; no two holders at once.
THREADS, ROUNDS = 6, 15
inside = []
errors = []


def worker(n):
    c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    for _ in range(ROUNDS):
        lk = c.lock("counter-lock", timeout=5, sleep=0.005, blocking_timeout=20)
        if not lk.acquire():
            errors.append("thread %d could not acquire" % n)
            return
        try:
            inside.append(n)
            if len(inside) > 1:
                errors.append("two holders at once: %r" % inside)
            v = int(c.get("counter") or 0)
            c.set("counter", v + 1)
            inside.remove(n)
        finally:
            lk.release()


threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
check(not errors, "contention: %s" % errors[:3])
check(int(r.get("counter")) == THREADS * ROUNDS, "counter = %s" % r.get("counter"))
check(r.get("counter-lock") is None, "the contended lock is free at the end")

print("redis-py lock: %d checks passed" % checks)
