"""Loaded by dovesnap into FAUCET and Gauge (an extra entry in osken-manager's app list, see
scripts/up.sh and deploy/systemd/): their SIGHUP handler must never block.

FAUCET's handler (OSKenAppBase.signal_handler in faucet/valve_ryuapp.py) puts a reload event on
the application's bounded event queue (128 entries) from inside whichever green thread the
signal interrupts. During a storm of switch events (a hundred containers removed at once) the
queue is full and the interrupted green thread is usually the application's own event loop, the
only one that makes room: the handler then waits forever, and FAUCET keeps answering /metrics
but handles no OpenFlow or reload event again. Seen with FAUCET 1.10.12 on os-ken 3.1.0; green
thread stacks of the hung process showed signal_handler -> send_event -> semaphore acquire on
top of the event loop.

Here a SIGHUP hands the original handler to a green thread of its own, which waits for room in
the queue like any other sender. Other signals are handled as before.
"""

import signal

from faucet import valve_ryuapp
from os_ken.lib import hub

_ORIGINAL = valve_ryuapp.OSKenAppBase.signal_handler


def _signal_handler(self, sigid, frame):
    if sigid == signal.SIGHUP:
        hub.spawn(_ORIGINAL, self, sigid, frame)
        return
    _ORIGINAL(self, sigid, frame)


if getattr(valve_ryuapp.OSKenAppBase.signal_handler, "__module__", None) != __name__:
    valve_ryuapp.OSKenAppBase.signal_handler = _signal_handler
