"""`lowtf launch`: start N local workers of a multi-worker run, each with its TF_CONFIG.

For trying `--strategy multiworker` on one machine. On a real cluster, run the same
`lowtf train --strategy multiworker ...` on every machine with a TF_CONFIG naming all
workers' `host:port` and that machine's own index (see README, Scaling out).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_configs(n, ports=None):
    """One TF_CONFIG JSON string per worker of an `n`-worker cluster on localhost."""
    ports = ports or free_ports(n)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(n)]


def _relay(stream, prefix, out):
    for line in stream:
        out.write(f"{prefix}{line}")
        out.flush()


def launch(n, command, grace_seconds=90):
    """Runs `command` (a list) as `n` workers; returns the first non-zero exit status.

    Output lines are prefixed with `[worker i]`. When one worker fails, the others get
    `grace_seconds` to fail on their own (they notice the lost peer) before being stopped.
    """
    procs = []
    for i, config in enumerate(tf_configs(n)):
        env = dict(os.environ, TF_CONFIG=config)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=_relay, args=(proc.stdout, f"[worker {i}] ", sys.stdout),
                         daemon=True).start()
        procs.append(proc)
    failed_at = None
    while any(p.poll() is None for p in procs):
        if failed_at is None and any(p.poll() not in (None, 0) for p in procs):
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > grace_seconds:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
        time.sleep(0.2)
    codes = [p.returncode for p in procs]
    return next((c for c in codes if c), 0)
