"""The demo's member of staff at the counter: answers the edge's pending checks as a person would, through
the same desk the staff console uses, so the demo's panel and dashboard show what a real venue's would.

Plan (for a demo that runs a few minutes): each check waits ``think_s`` (time for someone using the console
by hand to answer first), then is answered by "reading" a card on the simulated chip reader: a person the
camera estimated under 18 shows a minor's card (16 years old), anyone else an adult's (22). Minors are
refused, except the first minor of the run, who is admitted (one confirmed violation); one check is
deliberately left alone so the agent reports it "not checked" when its window runs out (one suspected).
Every fifth answered person had shown no ID. The cards are made up here: valid numbers with a fictitious
region and sequence, never a real person's.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime

from humiao.edge.idcheck.desk import CheckDesk
from humiao.edge.idcheck.number import check_character
from humiao.edge.idcheck.readers import CardRead, SimulatedReader

log = logging.getLogger("humiao.demo")
STAFF = "demo-staff"


def made_up_card(age: int, today: date, serial: int) -> CardRead:
    """A valid citizen number for someone ``age`` years old today (region 110105, a made-up sequence)."""
    birth = date(today.year - age - 1, 12, 31) if (today.month, today.day) < (12, 31) else date(today.year - age, 1, 1)
    first = f"110105{birth:%Y%m%d}{serial % 1000:03d}"
    return CardRead(first + check_character(first), "演示", birth)


class SimulatedStaff:
    def __init__(
        self, desk: CheckDesk, think_s: float = 20.0, leave_one_unchecked: bool = True, poll_s: float = 0.2
    ) -> None:
        self.poll_s = poll_s
        self.desk = desk
        self.think_s = think_s
        self.reader = SimulatedReader()
        self.reader.open()
        self._skip_one = leave_one_unchecked
        self._admitted_one = False
        self._answered = 0
        self._skipped: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-staff", daemon=True)

    def start(self) -> SimulatedStaff:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.reader.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            now = time.time()
            for p in self.desk.pending():
                if p.event_id in self._skipped or now - p.alerted_at < self.think_s:
                    continue
                if self._skip_one:
                    self._skip_one = False
                    self._skipped.add(p.event_id)
                    print(f"  staff: busy — alert {p.event_id[:13]}… is left unchecked", flush=True)
                    continue
                try:
                    self._answer(p.event_id, p.age_estimate)
                except Exception as err:  # the console or the window may have answered it first
                    log.info("demo staff could not answer %s: %s", p.event_id, err)

    def _answer(self, event_id: str, estimate: float) -> None:
        self._answered += 1
        if self._answered % 5 == 0:
            self.desk.record(event_id, "no_id_refused", None, STAFF)
            print(f"  staff: {event_id[:13]}… showed no ID — refused", flush=True)
            return
        minor = estimate < 18
        today = datetime.now(UTC).astimezone(self.desk.tz).date()
        self.reader.feed(made_up_card(16 if minor else 22, today, self._answered * 2 + 1))
        card = self.reader.read(timeout=1)
        assert card is not None
        reading = self.desk.reading_from_number(card.check(self.desk.now(), self.desk.tz), "chip")
        if not minor:
            outcome = "adult_admitted"
        elif not self._admitted_one:
            outcome, self._admitted_one = "minor_admitted", True
        else:
            outcome = "minor_refused"
        self.desk.record(event_id, outcome, reading.reading_id, STAFF)
        print(f"  staff: {event_id[:13]}… ID read, age {reading.facts.age} — {outcome.replace('_', ' ')}", flush=True)
