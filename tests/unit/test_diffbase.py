"""The diff-base is off (runtime/diffbase.py): valid only while no handler reacts to changes."""

from __future__ import annotations

import kopf

import podgroup_operator.handlers  # noqa: F401  (registers every handler)
from podgroup_operator.config import Config
from podgroup_operator.runtime.diffbase import NoDiffBase


def test_no_handler_depends_on_the_diff_base() -> None:
    registry = kopf.get_default_registry()
    changing = [h for h in registry._changing.get_all_handlers()]
    spawning = [h for h in registry._spawning.get_all_handlers()]
    assert not changing and not spawning, [h.id for h in changing + spawning]
    assert registry._indexing.get_all_handlers() and registry._watching.get_all_handlers()


def test_the_operator_runs_without_a_diff_base() -> None:
    settings = kopf.OperatorSettings()
    Config().apply(settings)
    storage = settings.persistence.diffbase_storage
    assert isinstance(storage, NoDiffBase)
    body = kopf.Body({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"big": list(range(100))}})
    first, second = storage.build(body=body), storage.build(body=body)
    assert first == {} and first is not second
    assert storage.fetch(body=body) is None
