"""Ctrl-C during a migration cancels the PostgreSQL statement under way, instead of waiting for it to end."""

import select
import signal
import socket
import threading
from contextlib import contextmanager

from analyzer.db import is_sqlite


@contextmanager
def cancelling(db):
    """While in the block, a SIGINT cancels DB's running statement at once (PostgreSQL, main thread only)."""
    if is_sqlite(db) or threading.current_thread() is not threading.main_thread():
        yield
        return
    # Python runs its SIGINT handler only once the statement returns; the wakeup fd is written at once, and a
    # thread watching it asks the server to cancel (libpq's cancel is safe from another thread).
    connection = db.connection()
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    done = threading.Event()

    def watch():
        while not done.is_set():
            if select.select([reader], [], [], 0.2)[0] and signal.SIGINT in reader.recv(64):
                try:
                    connection.cancel()
                except Exception:  # the connection is gone already: nothing runs to cancel
                    pass

    watcher = threading.Thread(target=watch, name="migrate-interrupt", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous)
        watcher.join()
        reader.close()
        writer.close()
