"""Checks that hold for every test and docstring example, under tests/ and in the package.

- The ``model`` marker is honest: a test without it that loads the real encoder fails, so
  ``pytest -m "not model"`` really runs without the model. A tiny random-weight encoder that a
  test writes itself (under a million parameters) needs no marker.
- Docstring examples run (``--doctest-modules``). Those that use them get ``tmp_path``, an empty
  folder, and ``session``, a session on a fresh, migrated SQLite database, of their own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.doctest import DoctestItem

from chatbot.db.migrate import upgrade
from chatbot.db.session import make_engine, make_session_factory
from chatbot.nlu.encoder import SentenceEncoder

# Session-scoped fixtures that hold the real encoder: once built, they hand it out without loading
# it again, so a test asking for one is checked by name, whatever ran first.
REAL_MODEL_FIXTURES = frozenset({"real_encoder", "live_server"})
_LOADED = pytest.StashKey[list[str]]()
# Fewer parameters than this is a test's own tiny encoder, not a real one (MiniLM-L6: 22.7M).
TINY_MODEL_PARAMETERS = 1_000_000

# Alembic runs these itself; imported for their docstrings, env.py would find no migration context.
collect_ignore = ["chatbot/migrations"]


class RealEncoderLoaded(AssertionError):
    """A test without the ``model`` marker loaded an encoder."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, DoctestItem) or item.dtest is None:
            continue
        # An example that loads an encoder is a model test like any other.
        if any("from_pretrained(" in example.source for example in item.dtest.examples):
            item.add_marker(pytest.mark.model)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if item.get_closest_marker("model") is not None:
        return (yield)
    loaded = item.stash.setdefault(_LOADED, [])
    unmarked = REAL_MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    loaded.extend(f"uses the {name} fixture" for name in sorted(unmarked))
    load = SentenceEncoder.__dict__["from_pretrained"].__func__

    def checked(cls: type[SentenceEncoder], *args: Any, **kwargs: Any) -> SentenceEncoder:
        encoder = load(cls, *args, **kwargs)  # refusals (no weights, a damaged file) raise
        if sum(p.numel() for p in encoder.model.parameters()) < TINY_MODEL_PARAMETERS:
            return encoder  # a tiny random model a test wrote itself loads in milliseconds
        loaded.append("loaded it through SentenceEncoder.from_pretrained")
        raise RealEncoderLoaded(f"{item.nodeid} loaded an encoder: mark it with model")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SentenceEncoder, "from_pretrained", classmethod(checked))
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    loaded = item.stash.get(_LOADED, [])
    # Failed on the call (or setup), even where the code under test caught the error.
    if loaded and report.when in ("setup", "call") and report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} loads the real encoder ({'; '.join(dict.fromkeys(loaded))}) "
            "without the model marker: add @pytest.mark.model"
        )
    return report


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; tests that need their own file copy it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(autouse=True)
def _doctest_names(
    request: pytest.FixtureRequest, doctest_namespace: dict[str, Any]
) -> Iterator[None]:
    """``tmp_path`` and ``session`` for the docstring examples that use them, fresh for each."""
    item = request.node
    if not isinstance(item, DoctestItem) or item.dtest is None:
        yield
        return
    source = "".join(example.source for example in item.dtest.examples)
    names: dict[str, Any] = {}
    if "tmp_path" in source or "session" in source:
        names["tmp_path"] = request.getfixturevalue("tmp_path")
    engine = None
    if "session" in source:
        database = names["tmp_path"] / "doctest.db"
        shutil.copy(request.getfixturevalue("migrated_sqlite_template"), database)
        engine = make_engine(f"sqlite:///{database}")
        names["session"] = make_session_factory(engine)()
    doctest_namespace.update(names)
    try:
        yield
    finally:
        for name in names:
            del doctest_namespace[name]
        if engine is not None:
            names["session"].close()
            engine.dispose()
