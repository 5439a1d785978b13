"""The clocks the tracker reads and the pause it takes between retries, in one injectable
value: the CLI builds it once and passes it down; tests pass a fake."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Clock:
    """`sleep` None means a real pause (probes then wait on their stop event, so a signal
    ends the pause at once)."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], object] | None = None

    def pause_until_stopped(self, stop: threading.Event) -> Callable[[float], object]:
        """How to wait between tries: the injected sleep, else `stop.wait` (a signal ends
        the pause at once)."""
        return self.sleep if self.sleep is not None else stop.wait
