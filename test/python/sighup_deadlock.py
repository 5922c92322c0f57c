"""Reproduces FAUCET's SIGHUP deadlock with the real os-ken and FAUCET classes, and shows that
deploy/faucet/dovesnap_faucet_sighup.py removes it. Run by test/contract/faucet-sighup.test.ts
with the venv's python:

    python3 sighup_deadlock.py patched|unpatched

A green thread stands in for the application's event loop: it fills the event queue (128
entries, as a storm of port events does), is interrupted by SIGHUP while it runs, and then
drains the queue. Prints "ok" (exit 0) when the reload request arrives in the queue, "deadlock"
(exit 1) when the loop never gets past the signal.
"""

import os
import signal
import sys
import time

from os_ken.lib import hub

hub.patch(thread=False)

from os_ken.base import app_manager  # noqa: E402
from faucet import valve_ryuapp  # noqa: E402

if sys.argv[1] == "patched":
    import dovesnap_faucet_sighup  # noqa: E402,F401


class Probe(valve_ryuapp.OSKenAppBase):
    """FAUCET's base class without FAUCET: only the event queue and the signal handler."""

    def __init__(self):  # pylint: disable=super-init-not-called
        app_manager.OSKenApp.__init__(self)


probe = Probe()
app_manager.SERVICE_BRICKS[probe.name] = probe
# As FAUCET's start() does: the handler is looked up when it is installed.
signal.signal(signal.SIGHUP, probe.signal_handler)

state = {"past_signal": False, "reloads": 0}


def event_loop():
    for i in range(probe.events.maxsize):
        probe._send_event(("port event", i), None)  # pylint: disable=protected-access
    os.kill(os.getpid(), signal.SIGHUP)
    # Work in Python code, as FAUCET's loop does, so the handler runs in this green thread.
    start = time.time()
    while time.time() - start < 0.3:
        pass
    state["past_signal"] = True
    while True:
        ev, _ = probe.events.get()
        probe._events_sem.release()  # pylint: disable=protected-access
        if isinstance(ev, valve_ryuapp.EventReconfigure):
            state["reloads"] += 1


hub.spawn(event_loop)
hub.sleep(2)
if state["past_signal"] and state["reloads"] == 1:
    print("ok")
    sys.exit(0)
print("deadlock" if not state["past_signal"] else "no reload: %r" % (state,))
sys.exit(1)
