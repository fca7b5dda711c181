"""Publication dates as ISO strings, from whatever form a source gives them."""

from __future__ import annotations

import re
from datetime import date, datetime

_ISO_PREFIX = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")
_YEAR = re.compile(r"^\d{4}$")
_PARSERS = ["custom-formats", "absolute-time"]


def normalise_date(value: object) -> str:
    """ISO date (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`) from a date, datetime or free-form string; "" if unknown."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    m = _ISO_PREFIX.match(text)
    if m and len(m.group(0)) >= 7:
        iso = m.group(0)
        try:  # a real calendar date (or month), not "2023-13-45"
            date.fromisoformat(iso if len(iso) == 10 else iso + "-01")
        except ValueError:
            return ""
        return iso
    if _YEAR.match(text):
        return text
    try:
        from dateparser.date import DateDataParser  # installed with trafilatura; handles "March 6th, 2026"

        # Only absolute dates that name a year: "Thursday" or "2 days ago" say nothing about when an
        # article was published once it is read later, so they are unknown rather than guessed.
        parser = DateDataParser(
            settings={"PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["year"], "PARSERS": _PARSERS}
        )
        data = parser.get_date_data(text)
    except Exception:  # noqa: BLE001 - a date we cannot read is simply unknown
        return ""
    if data is None or data.date_obj is None:
        return ""
    # Keep the precision the source gave: "March 2026" is a month, not the 1st of March.
    iso = data.date_obj.date().isoformat()
    return {"year": iso[:4], "month": iso[:7]}.get(data.period or "day", iso)
