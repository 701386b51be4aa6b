"""CronJob schedules as Kubernetes reads them, checked at render time and counted for PITR.

Kubernetes parses `spec.schedule` with robfig/cron v3's standard parser: five fields (minute,
hour, day of month, month, day of week), `*`, `?`, numbers, names (jan-dec, sun-sat), ranges,
steps and lists, or one of the descriptors @yearly, @annually, @monthly, @weekly, @daily,
@midnight and @hourly; `TZ=` and `CRON_TZ=` prefixes are refused since 1.29 (`timeZone` is the
field for that). Written here rather than taken from a library because the PyPI parsers accept
what Kubernetes refuses (a sixth seconds field, `L`, `W`, `#`, day-of-week 7) and the check is
about sixty lines; what a schedule is counted for (fires per week) needs the parsed sets anyway.
"""

from __future__ import annotations

from pgrender.frozen import frozen

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, low, high, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
EXPECTED = (
    "expected five fields (minute hour day-of-month month day-of-week) such as '30 1 * * *', "
    "or @daily, @hourly, @weekly, @monthly, @yearly"
)


@frozen
class Schedule:
    """A parsed schedule: the values each field allows, and whether day fields were restricted."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday
    day_of_month_any: bool
    day_of_week_any: bool

    @property
    def weekly(self) -> bool:
        """Whether the schedule repeats every week (no day-of-month or month restriction)."""
        return self.day_of_month_any and len(self.months) == 12

    def week_minutes(self) -> list[int]:
        """Minutes of the week (0 = Sunday 00:00) at which a weekly schedule fires, ascending."""
        if not self.weekly:
            raise ValueError("not a weekly schedule")
        return sorted(
            (day * 24 + hour) * 60 + minute
            for day in self.days_of_week
            for hour in self.hours
            for minute in self.minutes
        )

    def most_in(self, minutes: int) -> int:
        """The most times a weekly schedule fires within any half-open window of ``minutes``."""
        week = 7 * 24 * 60
        fires = self.week_minutes()
        if not fires:
            return 0
        # Fire times over enough weeks to cover any window starting in the first week.
        spread = [f + week * k for k in range(minutes // week + 2) for f in fires]
        best, end = 0, 0
        for start, first in enumerate(spread[: len(fires)]):
            end = max(end, start)
            while end < len(spread) and spread[end] < first + minutes:
                end += 1
            best = max(best, end - start)
        return best


def parse(text: str) -> Schedule:
    """The schedule ``text`` stands for; ValueError saying what is wrong, as Kubernetes would refuse it."""
    stripped = text.strip()
    if stripped.upper().startswith(("TZ=", "CRON_TZ=")):
        raise ValueError(f"{text!r}: a time zone in the schedule is refused by Kubernetes; use timeZone instead")
    if stripped.startswith("@"):
        if stripped not in _DESCRIPTORS:
            raise ValueError(f"{text!r} is not a schedule Kubernetes accepts; {EXPECTED}")
        stripped = _DESCRIPTORS[stripped]
    parts = stripped.split()
    if len(parts) != 5:
        raise ValueError(f"{text!r} has {len(parts)} fields; {EXPECTED}")
    minutes, hours, days, months, weekdays = (_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True))
    return Schedule(
        text,
        minutes,
        hours,
        days,
        months,
        weekdays,
        day_of_month_any=parts[2] in ("*", "?"),
        day_of_week_any=parts[4] in ("*", "?"),
    )


def _field(part: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        values |= _range(item, name, low, high, names)
    return frozenset(values)


def _range(item: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    span, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"{item!r} in the {name} field: the step after '/' must be a positive number")
        step = int(step_text)
    if span in ("*", "?"):
        first, last = low, high
    else:
        start, dash, end = span.partition("-")
        first = _number(start, name, low, high, names)
        # "5/15" means from 5 to the end of the field, as in robfig/cron.
        last = _number(end, name, low, high, names) if dash else (high if step_text else first)
        if first > last:
            raise ValueError(f"{item!r} in the {name} field: the range runs backwards")
    return set(range(first, last + 1, step))


def _number(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{text!r} in the {name} field is not a number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} in the {name} field is outside {low}-{high}")
    return value
