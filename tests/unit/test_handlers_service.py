"""The group's headless Service as a step of the plan, against a fake writer: ensured once, before
the members and the status that reports it; looked at again only after a Service of the group's
name is deleted; a foreign Service of that name is reported in status, never overwritten."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from podgroup_operator.core.observed import observe_group
from podgroup_operator.handlers.reconcile import reconcile
from podgroup_operator.handlers.triggers import service_changed
from tests.unit.handler_fakes import FakeWriter, context, memo

KEY = ("ns", "train")
FOREIGN = "a Service named train exists and is not this group's"


@dataclass
class ForeignServiceWriter(FakeWriter):
    """The API server holds a Service of the group's name that another owner made."""

    async def ensure_service(self, namespace: str, body: dict[str, Any], owner_uid: str) -> str | None:
        await super().ensure_service(namespace, body, owner_uid)
        return FOREIGN


def group(headless: bool = True) -> Any:
    template = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}
    spec = {
        "roles": [{"name": "worker", "replicas": 2, "template": template}],
        "network": {"headlessService": headless},
    }
    return observe_group(
        {"metadata": {"namespace": "ns", "name": "train", "uid": "uid-train", "generation": 1}, "spec": spec}
    )


def service_condition(status: dict[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in status["conditions"] if c["type"] == "ServiceReady"]
    return condition


def run(writer: FakeWriter, headless: bool = True) -> Any:
    ctx = context(writer)
    ctx.groups[KEY] = [group(headless)]  # type: ignore[index]
    ctx.member_pods[KEY] = []  # type: ignore[index]
    asyncio.run(reconcile(ctx, KEY))
    return ctx


def test_the_service_is_ensured_once_before_the_members_and_the_status_says_so() -> None:
    writer = FakeWriter()
    ctx = run(writer)
    verbs = [v for v, _, _ in writer.writes]
    assert verbs[0] == "ensure_service" and writer.writes[0][1:] == ("train", "uid-train")
    assert verbs.count("ensure_service") == 1
    (status,) = [s for v, _, s in writer.writes if v == "patch_status"]
    assert service_condition(status)["status"] == "True"

    writer.writes.clear()
    asyncio.run(reconcile(ctx, KEY))
    assert writer.verbs("ensure_service") == []


def test_a_foreign_service_is_reported_and_looked_at_again_once_it_is_deleted() -> None:
    writer = ForeignServiceWriter()
    ctx = run(writer)
    (status,) = [s for v, _, s in writer.writes if v == "patch_status"]
    condition = service_condition(status)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False",
        "ServiceConflict",
        FOREIGN,
    )

    writer.writes.clear()
    asyncio.run(reconcile(ctx, KEY))  # the answer is remembered: no second look, same status
    assert writer.verbs("ensure_service") == []
    assert all(service_condition(s) == condition for _, _, s in writer.verbs("patch_status"))

    asyncio.run(service_changed(namespace="ns", name="train", type="DELETED", memo=memo(ctx)))
    assert KEY in ctx.queue.added  # type: ignore[attr-defined]
    asyncio.run(reconcile(ctx, KEY))
    assert len(writer.verbs("ensure_service")) == 1


def test_a_group_without_a_headless_service_has_none_ensured_and_no_condition() -> None:
    writer = FakeWriter()
    run(writer, headless=False)
    assert writer.verbs("ensure_service") == []
    (status,) = [s for v, _, s in writer.writes if v == "patch_status"]
    assert all(c["type"] != "ServiceReady" for c in status["conditions"])
