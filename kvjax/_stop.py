"""The one stop flag of a running sweep (set by the CLI's signal handlers, read by the chunk
loop between chunks): kept here, in the bottom layer, so that setting it imports nothing."""

import threading

STOP = threading.Event()
"""Set to stop a running sweep after the chunk in hand: the chunks written so far are
committed, the store stays resumable, and ``run_sweep`` raises ``Interrupted``."""
