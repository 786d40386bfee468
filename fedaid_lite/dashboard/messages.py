"""What the dashboard says, and to whom: the status line, the note on knob changes, the listeners.

Every change (a knob moved, a round done, a preparation step, Reset) goes through `say`: it sets the
status line, recomputes the note from the knobs and the runs on screen, and tells each listener the
event ('status', 'round', 'reference', 'reset'), which the widgets turn into a redraw. Listeners are
called from whichever thread made the change (training, preparation, or the kernel's).
"""

from __future__ import annotations

from typing import Callable

READY = "ready: press Train"


class Messages:
    """The status line, the note (`note_of()`, recomputed on every `say`) and the listeners told of each event."""

    def __init__(self, note_of: Callable[[], str]) -> None:
        self.listeners: list[Callable[[str], None]] = []
        self.status, self.note = READY, ""
        self._note_of = note_of

    def say(self, status: str | None, event: str | None) -> None:
        """Set the status line (None keeps it), refresh the note, tell the listeners `event` (None: nobody)."""
        if status is not None:
            self.status = status
        self.update_note()
        if event is not None:
            self.emit(event)

    def emit(self, event: str) -> None:
        """Tell every listener `event`."""
        for listener in list(self.listeners):
            listener(event)

    def update_note(self) -> None:
        """Recompute the note on knob changes (what applies when) for the runs on screen."""
        self.note = self._note_of()

    def clear(self) -> None:
        """Back to the starting status line and no note."""
        self.note, self.status = "", READY
