"""Kopf's diff-base, switched off: the operator registers no on.create/on.update/on.resume
handler (only indexes and on.event), so the "last handled" essence Kopf deep-copies out of
every watch event is never compared with anything. At 1000 nodes that copy was 9 % of the
operator's CPU (py-spy during bench.gang). tests/unit/test_diffbase.py fails if a changing
handler is ever registered, since such a handler would need the real diff-base back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()  # a fresh one: Kopf may edit what it gets

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        raise RuntimeError("the diff-base is off: no handler may depend on changes (runtime/diffbase.py)")
