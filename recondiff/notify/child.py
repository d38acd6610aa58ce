"""``python -P -m recondiff.notify.child``: one delivery in a process of its
own (recondiff/notify/send.py ``deliver`` starts it and kills it at the
deadline), asked for on stdin (a pickle of the parent's own making) and
answered on stdout. Its stderr goes nowhere.
"""

from __future__ import annotations

import math
import pickle
import signal
import sys

from recondiff.notify.send import deliver_here, grace


def main() -> None:
    target, message, environ, timeout = pickle.loads(sys.stdin.buffer.read())
    # a deadline of its own, a second after the parent's: a parent killed
    # outright (SIGKILL) can no longer kill it
    signal.alarm(math.ceil(timeout + grace(timeout)) + 1)
    delivery = deliver_here(target, message, environ, timeout)
    sys.stdout.buffer.write(pickle.dumps((delivery.sent, delivery.why)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
