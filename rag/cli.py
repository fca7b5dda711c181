"""`rag`: build the index, ask, retrieve, check status, evaluate. The only module that prints.

Conventions: results go to stdout (one JSON object, or one per line for JSON Lines input, with `--json`),
progress and messages to stderr. Exit codes: 0 success, 1 an error the message explains (no index, a
corrupt or mismatched index, a busy lock, bad input lines), 2 wrong usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rag import __version__
from rag.config import Settings, get_settings
from rag.store import IndexProblem

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _iso_date(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date in YYYY-MM-DD form") from None


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a positive whole number")
    return n


def _err(message: str) -> None:
    print(f"rag: error: {message}", file=sys.stderr)


def _emit(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = args.index_dir
    if getattr(args, "corpus", None):
        overrides["corpus_dir"] = args.corpus
    return get_settings().model_copy(update=overrides)


# -- rag index ---------------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag.indexer import update_index

    settings = _settings(args)
    bar: tqdm | None = None

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="chunk", desc="Embedding", file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)

    def waiting() -> None:
        print(f"rag: another indexer is updating '{settings.index_dir}'; waiting for it…", file=sys.stderr)

    if args.watch:
        return _watch(settings, args.rebuild)
    try:
        summary = update_index(
            settings,
            rebuild=args.rebuild,
            progress=progress,
            on_wait=waiting,
            engine=getattr(args, "engine", "local"),
            ray_address=getattr(args, "ray_address", None),
        )
    finally:
        if bar is not None:
            bar.close()
    for p in summary.problems:
        print(f"rag: {'skipped' if p.skipped else 'warning'}: {p}", file=sys.stderr)
    if args.json:
        keys = ("articles", "chunks", "added", "updated", "removed", "unchanged", "seconds")
        out = {k: v for k, v in summary.to_json().items() if k in keys}
        out["skipped"] = [{"source": p.source, "message": p.message} for p in summary.problems if p.skipped]
        _emit(out)
    else:
        print(
            f"Indexed {summary.articles} articles ({summary.chunks} chunks) in {summary.seconds:.1f} s: "
            f"{summary.added} added, {summary.updated} updated, {summary.removed} removed, "
            f"{summary.unchanged} unchanged, {sum(p.skipped for p in summary.problems)} skipped."
        )
    return EXIT_OK


def _watch(settings: Settings, rebuild: bool) -> int:
    """`rag index --watch`: update once, then after each burst of changes in the corpus folder, until Ctrl-C."""
    from rag.indexer import update_index
    from rag.watch import CorpusWatcher

    if rebuild:
        update_index(settings, rebuild=True)
    watcher = CorpusWatcher(settings, on_update=lambda u: print(u.line(), file=sys.stderr, flush=True))
    print(
        f"rag: watching '{settings.corpus_dir}' for changes (index '{settings.index_dir}'); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    # Ctrl-C between updates or inside one: each update is atomic, and the lock is released on the way out.
    with contextlib.suppress(KeyboardInterrupt):
        watcher.run()
    print("rag: watch stopped", file=sys.stderr, flush=True)
    return EXIT_OK


# -- rag ask / retrieve ------------------------------------------------------------------------------


def _stdin_requests() -> list[tuple[dict[str, Any] | None, str | None]]:
    """(request, error) per non-empty stdin line."""
    out: list[tuple[dict[str, Any] | None, str | None]] = []
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append((None, f"line {lineno}: invalid JSON ({exc.msg})"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not obj["question"].strip():
            out.append((obj if isinstance(obj, dict) else None, f'line {lineno}: needs a non-empty "question"'))
            continue
        out.append((obj, None))
    return out


def _print_answer(answer: Any) -> None:
    print(answer.text)
    if answer.warnings:
        for w in answer.warnings:
            print(f"({w})")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"[{c.n}] {c.outlet} — {c.title} ({c.published or 'undated'})")
            if c.url:
                print(f"    {c.url}")
            print(f"    “{c.quote}”")
    if answer.search_query != answer.question:
        print(f"\n(searched: {answer.search_query})")
    if answer.answerer != "extractive" and not answer.refused:  # a written answer: which model, and checked
        print(f"(written by {answer.answerer}; each sentence checked against the passage it cites)")


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline
    from rag.types import Turn

    pipeline = Pipeline(_settings(args))
    filters = {"outlets": args.outlet or [], "since": args.since, "until": args.until}
    if args.question:
        answer = pipeline.ask(" ".join(args.question), **filters)
        _emit(answer.to_json()) if args.json else _print_answer(answer)
        return EXIT_OK
    if not args.json:
        _err("give a QUESTION, or use --json and send JSON Lines on stdin")
        return EXIT_USAGE
    histories: dict[str, list[Turn]] = {}
    status = EXIT_OK
    for req, error in _stdin_requests():
        if error:
            _emit({"id": (req or {}).get("id"), "error": error})
            status = EXIT_ERROR
            continue
        assert req is not None
        conv = req.get("conversation")
        history = histories.setdefault(str(conv), []) if conv is not None else []
        answer = pipeline.ask(req["question"], history=list(history), **filters)
        if conv is not None:
            history.append(Turn.from_answer(answer))
        _emit(answer.to_json(req.get("id")))
    return status


def cmd_retrieve(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline
    from rag.types import Turn

    pipeline = Pipeline(_settings(args))
    filters = {"outlets": args.outlet or [], "since": args.since, "until": args.until}

    def result(qid: Any, question: str, history: list[Turn]) -> dict[str, Any]:
        query = pipeline.search_query(question, history, **filters)
        hits = pipeline.retrieve(query, k=args.k)
        chunks = [
            {
                "chunk_id": h.chunk.id,
                "article_id": h.article.id,
                "outlet": h.article.outlet,
                "title": h.article.title,
                "published": h.article.published,
                "url": h.article.url,
                "text": h.chunk.text,
                "score": round(h.score, 6),
            }
            for h in hits
        ]
        return {"id": qid, "question": question, "search_query": query.text, "chunks": chunks}

    if args.question:
        out = result(None, " ".join(args.question), [])
        if args.json:
            _emit(out)
        else:
            for i, c in enumerate(out["chunks"], start=1):
                print(f"{i}. [{c['score']:.4f}] {c['outlet']} — {c['title']}\n   {c['text'][:300]}…\n")
        return EXIT_OK
    if not args.json:
        _err("give a QUESTION, or use --json and send JSON Lines on stdin")
        return EXIT_USAGE
    histories: dict[str, list[Turn]] = {}
    status = EXIT_OK
    for req, error in _stdin_requests():
        if error:
            _emit({"id": (req or {}).get("id"), "error": error})
            status = EXIT_ERROR
            continue
        assert req is not None
        conv = req.get("conversation")
        history = histories.setdefault(str(conv), []) if conv is not None else []
        out = result(req.get("id"), req["question"], list(history))
        if conv is not None:
            history.append(Turn(req["question"], "", out["search_query"]))
        _emit(out)
    return status


# -- rag status / eval -------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from rag.status import index_status

    info = index_status(_settings(args))
    if args.json:
        _emit(info)
        return EXIT_OK
    print(f"Index:    {info['index_dir']}")
    print(f"Articles: {info['articles']}   Chunks: {info['chunks']}")
    print(f"Model:    {info['model']} ({info['dimension']} dimensions)")
    print(f"Built:    {info['built_at']}")
    print("Outlets:")
    for outlet, n in info["outlets"].items():
        print(f"  {n:5d}  {outlet}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from rag import evaluation
    from rag.pipeline import Pipeline

    rows = evaluation.read_jsonl(Path(args.file))
    if args.split:
        rows = evaluation.select_split(rows, args.split)
        if not rows:
            _err(f'no question or dialogue in {args.file} has "split": "{args.split}"')
            return EXIT_USAGE
    pipeline = Pipeline(_settings(args))
    if evaluation.detect_format(rows) == "multihop":
        from rag import multihop

        return multihop.run_cli(pipeline, rows, args)
    t0 = time.perf_counter()
    report = evaluation.evaluate_seed_format(pipeline, rows)
    summary = report.summary() | {"seconds": round(time.perf_counter() - t0, 2)}
    if args.json:
        _emit({"items": [i.row() for i in report.items], "summary": summary})
    else:
        print(f"{'id':<8}{'pass':<6}{'refused':<9}{'facts':<7}{'outlet':<8}{'kind':<14}cited / searched")
        for i in report.items:
            print(
                f"{i.id:<8}{'yes' if i.passed else 'NO':<6}{str(i.refused):<9}{str(i.facts_ok):<7}"
                f"{str(i.outlet_ok):<8}{i.kind or '-':<14}{', '.join(i.cited_outlets) or '-'}"
                + (f"  [searched: {i.search_query}]" if i.search_query != i.question else "")
            )
        print(
            f"\nAnswerable passed {summary['answerable_passed']}/{summary['answerable']}"
            f" (facts {summary['facts_ok']}, outlet {summary['outlet_ok']}, false refusals "
            f"{summary['false_refusals']}); unanswerable refused {summary['unanswerable_refused']}/"
            f"{summary['unanswerable']}; follow-ups passed {summary['follow_up_passed']}/{summary['follow_ups']};"
            f" median {summary['median_seconds'] * 1000:.0f} ms/question"
        )
        if summary.get("topic_changes"):
            print(
                f"Topic changes passed {summary['topic_change_passed']}/{summary['topic_changes']} in the dialogue,"
                f" {summary['topic_change_alone_passed']}/{summary['topic_changes']} asked alone; same score both"
                f" ways {summary['topic_change_same_as_alone']}/{summary['topic_changes']}"
            )
        if summary["by_kind"]:
            print("By kind: " + _per_kind(summary["by_kind"]))
        for split, part in summary["by_split"].items():
            print(
                f"Split {split}: follow-ups passed {part['follow_up_passed']}/{part['follow_ups']}, topic changes"
                f" passed {part['topic_change_passed']}/{part['topic_changes']}; by kind: {_per_kind(part['by_kind'])}"
            )
    return EXIT_OK


def _per_kind(counts: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{kind} {c['passed']}/{c['turns']}" for kind, c in counts.items())


# -- rag config ----------------------------------------------------------------------------------------


def cmd_config(args: argparse.Namespace) -> int:
    """Every setting by concern: its environment variable, value in this environment, and what it does."""
    from rag import config
    from rag.answer import registry

    if args.markdown:
        print(config.markdown_tables(), end="")
        return EXIT_OK
    rows = config.describe(_settings(args))
    if args.json:
        for r in rows:
            _emit({"group": r.group, "name": r.name, "env": r.env, "value": r.default, "description": r.description})
        return EXIT_OK
    width = max(len(r.env) for r in rows)
    for group in config.GROUPS:
        print(f"{config.group_title(group)}.")
        for r in (r for r in rows if r.group == group):
            print(f"  {r.env:<{width}}  {r.default}")
            print(f"  {'':<{width}}  {r.description}")
        print()
    print(f"Answerers (RAG_LLM): {', '.join(r.usage for r in registry.registrations())}")
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Cited answers from a corpus of news articles, offline.",
        epilog="Settings come from RAG_<NAME> environment variables; `rag config` lists every one, by concern, "
        "with its value and what it does.",
    )
    parser.add_argument("--version", action="version", version=f"rag {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, json_help: str) -> None:
        p.add_argument("--index-dir", type=Path, help="index folder (default: $RAG_INDEX_DIR or index/)")
        p.add_argument("--json", action="store_true", help=json_help)

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--outlet", action="append", metavar="NAME", help="only this outlet (repeatable)")
        p.add_argument("--since", type=_iso_date, metavar="DATE", help="only articles published on/after DATE")
        p.add_argument("--until", type=_iso_date, metavar="DATE", help="only articles published on/before DATE")

    p = sub.add_parser("index", help="build or update the index from the corpus folder")
    p.add_argument("--corpus", type=Path, help="corpus folder (default: $RAG_CORPUS_DIR or seeds/)")
    p.add_argument("--rebuild", action="store_true", help="discard the existing index and build from scratch")
    p.add_argument(
        "--watch",
        action="store_true",
        help="keep running: fold in files that appear, change or disappear in the corpus folder (Ctrl-C stops)",
    )
    p.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="embed here (default) or on a Ray cluster"
    )
    p.add_argument("--ray-address", metavar="ADDR", help="Ray cluster to use with --engine ray (default: start one)")
    common(p, "print one JSON summary object")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with quoted, cited passages")
    p.add_argument("question", nargs="*", help="the question (omit with --json to read JSON Lines from stdin)")
    filters(p)
    common(p, "print JSON; without QUESTION, read {id, question, conversation?} lines from stdin")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("retrieve", help="show the passages retrieved for a question")
    p.add_argument("question", nargs="*", help="the question (omit with --json to read JSON Lines from stdin)")
    p.add_argument("-k", type=_positive_int, default=10, help="number of passages (default 10)")
    filters(p)
    common(p, "print JSON; without QUESTION, read {id, question, conversation?} lines from stdin")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("status", help="what the index holds")
    common(p, "print one JSON object")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("eval", help="score a question file (seed dev format or MultiHop-RAG queries)")
    p.add_argument("file", help="JSON Lines question file")
    p.add_argument("--limit", type=int, help="only the first N questions (MultiHop-RAG)")
    p.add_argument(
        "--half", choices=("even", "odd"), help="only the even or odd lines (MultiHop-RAG; fitted weights use even)"
    )
    p.add_argument(
        "--split",
        choices=("tune", "heldout"),
        help='only the dialogues (or questions) with this "split" field (eval/README.md)',
    )
    common(p, "print the per-question rows and the summary as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("config", help="list every setting (RAG_ variable) with its value and description")
    p.add_argument("--markdown", action="store_true", help="print the README's configuration tables (defaults)")
    common(p, "print one JSON object per setting")
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    for noisy in ("bm25s", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except IndexProblem as exc:
        _err(str(exc))
    except FileNotFoundError as exc:
        _err(str(exc))
    except ValueError as exc:
        _err(str(exc))
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`rag status | head`): stop quietly, and keep Python's exit-time flush of
        # stdout from raising again (the recipe in the `signal` module's documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
