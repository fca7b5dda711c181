"""Publication dates as ISO strings, from whatever form a source gives them."""

from __future__ import annotations

import re
from datetime import date, datetime

_ISO_PREFIX = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")


def normalise_date(value: object) -> str:
    """ISO date (`YYYY-MM-DD` or `YYYY-MM`) from a date, datetime or free-form string; "" if unknown."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    m = _ISO_PREFIX.match(text)
    if m and len(m.group(0)) >= 7:
        return m.group(0)
    try:
        import dateparser  # installed with trafilatura; handles "March 6th, 2026"

        parsed = dateparser.parse(text, settings={"PREFER_DAY_OF_MONTH": "first", "STRICT_PARSING": False})
    except Exception:  # noqa: BLE001 - a date we cannot read is simply unknown
        parsed = None
    return parsed.date().isoformat() if parsed else ""
