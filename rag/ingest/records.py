"""`.json` and `.jsonl` files of article records: `url`, `outlet`, `title`, `published`, `body`.

This is the format of the MultiHop-RAG corpus. A broken line is reported with its line number and skipped;
the other lines are read.
"""

from __future__ import annotations

import json

from rag.ingest.base import Problem, ReadResult, make_article

_BODY_KEYS = ("body", "text", "content")


def _record(obj: object, source: str, result: ReadResult) -> None:
    if not isinstance(obj, dict):
        result.problems.append(Problem(source, "record is not a JSON object; skipped"))
        return
    body = next((obj[k] for k in _BODY_KEYS if isinstance(obj.get(k), str)), "")
    make_article(
        source=source,
        body=body,
        outlet=obj.get("outlet") or obj.get("source") or obj.get("publisher"),
        title=obj.get("title"),
        published=obj.get("published") or obj.get("date") or obj.get("published_at"),
        url=obj.get("url"),
        result=result,
    )


def parse_jsonl(content: str, source: str) -> ReadResult:
    result = ReadResult()
    for lineno, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{source}#{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(where, f"invalid JSON ({exc.msg} at column {exc.colno}); line skipped"))
            continue
        _record(obj, where, result)
    return result


def parse_json(content: str, source: str) -> ReadResult:
    result = ReadResult()
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        result.problems.append(Problem(source, f"invalid JSON ({exc.msg} at line {exc.lineno}); file skipped"))
        return result
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    items = data if isinstance(data, list) else [data]
    for i, obj in enumerate(items, start=1):
        _record(obj, f"{source}#{i}" if len(items) > 1 else source, result)
    return result
