"""What handler tests run against: a writer that records every write instead of sending it,
indexes as plain dicts, and the context and memo the handlers expect."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from podgroup_operator.core.conditions import Event
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.k8s.adapter import GroupRef

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class FakeWriter:
    """Records writes as (verb, target, payload), in the order the handler made them."""

    writes: list[tuple[str, str, Any]] = field(default_factory=list)

    def verbs(self, verb: str) -> list[tuple[str, str, Any]]:
        return [w for w in self.writes if w[0] == verb]

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> str | None:
        self.writes.append(("create_pod", body["metadata"]["name"], body))
        return None

    async def ensure_service(self, namespace: str, body: dict[str, Any], owner_uid: str) -> str | None:
        self.writes.append(("ensure_service", body["metadata"]["name"], owner_uid))
        return None

    async def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        self.writes.append(("delete_pod", name, uid))

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.writes.append(("patch_status", name, status))

    async def patch_pod(self, namespace: str, name: str, uid: str, patch: dict[str, Any]) -> bool:
        self.writes.append(("patch_pod", name, patch))
        return True

    async def resize_pod(self, namespace: str, name: str, patch: dict[str, Any], now: datetime) -> str | None:
        self.writes.append(("resize_pod", name, patch))
        return None

    async def release_member(self, namespace: str, name: str, **kwargs: Any) -> bool:
        self.writes.append(("release_member", name, kwargs))
        return True

    async def post_event(self, group: GroupRef, event: Event, now: datetime) -> None:
        self.writes.append(("post_event", group.name, event))


class FakeQueue:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, key: Any) -> None:
        self.added.append(key)

    def add_after(self, key: Any, delay: float) -> None:
        self.added.append(key)

    def forget(self, key: Any) -> None:
        pass


def context(writer: FakeWriter) -> OperatorContext:
    return OperatorContext(
        writer=writer,  # type: ignore[arg-type]
        queue=FakeQueue(),  # type: ignore[arg-type]
        groups={},  # type: ignore[arg-type]
        member_pods={},  # type: ignore[arg-type]
        nodes={},  # type: ignore[arg-type]
        node_pods={},  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def memo(ctx: OperatorContext) -> Any:
    """The kopf.Memo the watch handlers read: the context and an admitter to wake."""
    return SimpleNamespace(ctx=ctx, admitter=SimpleNamespace(poke=lambda: None))
