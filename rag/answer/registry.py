"""Answerers by name: `Settings.llm` ("extractive", "ollama:llama3.2", …) → an `Answerer`.

A setting is `<name>` or `<name>:<model>`; the name picks a registered factory, which gets the model part and
the settings. Every module in `rag/answer/answerers/` registers itself when imported, and so does any installed
package that declares an entry point in the `rag.answerers` group (the way simonw/llm's plugins add models):

    # rag/answer/answerers/mine.py (or a plugin's module)
    from rag.answer.registry import register
    register("mine", lambda model, settings: MyAnswerer(model, settings), usage="mine:<model>")

So adding an answerer is one new module; the pipeline, the CLI and the app only ever ask `get(setting)`.
A setting no factory understands still gets an answerer: the extractive one, with a warning saying why
(`rag.answer.llm.unavailable`), so a typo in RAG_LLM never takes the app down.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.answer.base import Answerer
    from rag.config import Settings

log = logging.getLogger(__name__)

#: factory(model, settings): `model` is what follows the colon in the setting ("" when there is none).
Factory = Callable[[str, "Settings"], "Answerer"]

#: The entry-point group through which installed packages add answerers (each entry: a module to import).
ENTRY_POINT_GROUP = "rag.answerers"


class UnknownAnswerer(LookupError):
    """A setting that names no registered answerer (or lacks, or has, a model part it should not)."""


@dataclass(frozen=True, slots=True)
class Registration:
    name: str
    factory: Factory
    #: How it is written in RAG_LLM, e.g. "ollama:<model>"; a colon means the model part is required.
    usage: str
    #: One line for `rag config` and for the message about a setting that is not understood.
    summary: str = ""

    @property
    def takes_model(self) -> bool:
        return ":" in self.usage


_REGISTRY: dict[str, Registration] = {}
_lock = threading.RLock()
_loaded = False  # every built-in module and plugin imported
_loading = False  # the import is under way (in this thread, when a module being imported asks again)


def register(name: str, factory: Factory, usage: str | None = None, summary: str = "") -> None:
    """Make `name` (lower case, no colon) available as a setting; a later registration replaces an earlier one."""
    key = name.strip().lower()
    if not key or ":" in key:
        raise ValueError(f"an answerer name is one word without a colon, not {name!r}")
    _REGISTRY[key] = Registration(key, factory, usage or key, summary)


def registrations() -> list[Registration]:
    """Everything registered, by name."""
    _load()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def names() -> list[str]:
    return [r.name for r in registrations()]


def parse(spec: str) -> tuple[Registration, str]:
    """`"OpenAI:gpt-4o-mini"` → (the "openai" registration, "gpt-4o-mini"); raises `UnknownAnswerer`."""
    _load()
    name, sep, model = spec.partition(":")
    reg = _REGISTRY.get(name.strip().lower())
    model = model.strip()
    if reg is None or reg.takes_model != bool(sep) or (reg.takes_model and not model):
        usages = [f"'{r.usage}'" for r in registrations()]
        listed = ", ".join(usages[:-1]) + f" or {usages[-1]}" if len(usages) > 1 else "".join(usages)
        raise UnknownAnswerer(f"RAG_LLM='{spec}' is not understood: use {listed}")
    return reg, model


def get(spec: str, settings: Settings) -> Answerer:
    """The answerer `spec` names (cheap: a model is loaded only when it first answers)."""
    try:
        reg, model = parse(spec)
    except UnknownAnswerer as exc:
        from rag.answer import llm

        return llm.unavailable(spec.strip(), str(exc), settings)
    return reg.factory(model, settings)


def _load() -> None:
    """Import the built-in answerer modules and the installed plugins once (each registers itself). Another
    thread asking meanwhile waits for the whole set (the app's sessions start together)."""
    global _loaded, _loading
    if _loaded:
        return
    with _lock:
        if _loaded or _loading:
            return
        _loading = True
        try:
            from rag.answer import answerers

            for mod in sorted(pkgutil.iter_modules(answerers.__path__), key=lambda m: m.name):
                importlib.import_module(f"{answerers.__name__}.{mod.name}")
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    ep.load()
                except Exception:  # noqa: BLE001 - a broken plugin must not take the built-in answerers down
                    log.exception("answerer plugin %s could not be loaded", ep.name)
            _loaded = True
        finally:
            _loading = False
