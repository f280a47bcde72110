"""Graceful shutdown under waitress: on SIGTERM stop accepting, let the requests in flight finish, then exit."""

import logging
import os
import signal
import threading
import time

log = logging.getLogger("analyzer.web")
GRACE_S = 25.0  # within the 30 s most platforms (Railway among them) wait after SIGTERM before SIGKILL
POLL_S = 0.05


def on_sigterm():
    """Drain the waitress server that runs this process when SIGTERM comes (only the main thread can listen)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _drain)


def _drain(signum, frame):
    server = _server_of(frame)
    if server is None:  # not under waitress's loop: stop as if no handler were set
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    # The drain ends waitress's loop with SIGINT: a process started in the background may have inherited it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server.accepting = False
    log.warning("SIGTERM: not accepting new connections; finishing %d open one(s) (at most %g s)",
                len(server.active_channels), GRACE_S)
    threading.Thread(target=_close_when_idle, args=(server, time.monotonic() + GRACE_S), daemon=True).start()


def _server_of(frame):
    """Return the waitress server whose loop the signal interrupted, found on the main thread's stack."""
    from waitress.server import BaseWSGIServer

    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, BaseWSGIServer):
            return candidate
        frame = frame.f_back
    return None


def _close_when_idle(server, deadline):
    """Close each connection once it has no request in flight; end the loop when none is left or time is up."""
    def close_idle():  # runs in the server's loop, which owns the connections
        for channel in list(server.active_channels.values()):
            if not channel.requests and channel.request is None and not channel.total_outbufs_len:
                channel.will_close = True

    while server.active_channels and time.monotonic() < deadline:
        server.trigger.pull_trigger(close_idle)
        time.sleep(POLL_S)
    if server.active_channels:
        log.warning("SIGTERM: %d connection(s) still busy after %g s; stopping anyway",
                    len(server.active_channels), GRACE_S)
    os.kill(os.getpid(), signal.SIGINT)  # waitress ends its loop on KeyboardInterrupt and joins its threads
