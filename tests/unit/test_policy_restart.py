"""core.restart: what an in-place restart writes on a pod, and the patches the operator sends."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podgroup_operator.core.failures import detect_failures
from podgroup_operator.core.labels import HANDLED_FAILURES_ANNOTATION, RESTART_GENERATION_ANNOTATION
from podgroup_operator.core.observed import ObservedPod, observe_pod
from podgroup_operator.core.restart import (
    KUBELET_RESTART_SECONDS,
    KubeletRestarting,
    NotRestartable,
    PodRestart,
    handled_patch,
    restart_in_place,
    restart_patch,
    stop_patch,
)

Body = dict[str, Any]
UID = "4f1d2c3b-0a9e-4d8c-b7a6-5e4f3d2c1b0a"
DIGEST = "sha256:" + "ab" * 32
ALIAS_ANNOTATION = "podgroup.dev/restart-image.trainer"
NOW = datetime(2025, 1, 2, 3, 10, tzinfo=UTC)  # minutes after POD's last change

# The role's pod template.
TEMPLATE: Body = {
    "metadata": {"labels": {"app": "train"}},
    "spec": {
        "containers": [
            {"name": "trainer", "image": "busybox:1.36"},
            {"name": "sidecar", "image": "localhost:5000/side:1"},
        ]
    },
}

# A member built from it: the trainer restarted twice after exit 42, the sidecar never.
POD: Body = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "train-worker-1",
        "namespace": "ml",
        "uid": UID,
        "labels": {"podgroup.dev/name": "train", "podgroup.dev/role": "worker", "podgroup.dev/index": "1"},
        "annotations": {HANDLED_FAILURES_ANNOTATION: '{"c/trainer":1}', RESTART_GENERATION_ANNOTATION: "2"},
    },
    "spec": {
        "nodeName": "node-a",
        "restartPolicy": "Always",
        "containers": [
            {"name": "trainer", "image": "busybox:1.36"},
            {"name": "sidecar", "image": "localhost:5000/side:1"},
        ],
    },
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "trainer",
                "image": "docker.io/library/busybox:1.36",
                "imageID": "sha256:" + "cd" * 32,  # imported, not pulled: no repo digest
                "restartCount": 2,
                "ready": True,
                "state": {"running": {"startedAt": "2025-01-02T03:05:00Z"}},
                "lastState": {
                    "terminated": {"exitCode": 42, "reason": "Error", "finishedAt": "2025-01-02T03:04:59Z"}
                },
            },
            {
                "name": "sidecar",
                "image": "localhost:5000/side:1",
                "imageID": f"localhost:5000/side@{DIGEST}",
                "restartCount": 0,
                "ready": True,
                "state": {"running": {"startedAt": "2025-01-02T03:00:00Z"}},
                "lastState": {},
            },
        ],
    },
}


def observed(**changes: Any) -> ObservedPod:
    body = copy.deepcopy(POD)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = body
        for p in parents:
            node = node[p]
        node[leaf] = value
    return observe_pod(body)


def test_restart_in_place_switches_every_container() -> None:
    r = restart_in_place(observed(), TEMPLATE, generation=3, handled={"c/trainer": 2}, now=NOW)
    assert r == PodRestart(
        pod="train-worker-1",
        uid=UID,
        images={
            "trainer": "docker.io/library/busybox:1.36",
            "sidecar": f"localhost:5000/side:pgo-1@{DIGEST}",
        },
        handled={"c/trainer": 3, "c/sidecar": 1},
        generation=3,
    )


@pytest.mark.parametrize(
    ("pod_handled", "passed", "expected"),
    [
        ({}, {}, {"c/trainer": 3, "c/sidecar": 1}),
        ({"c/trainer": 1}, {"c/trainer": 2}, {"c/trainer": 3, "c/sidecar": 1}),
        # Keys other than the containers' are kept, from the pod and from the caller.
        (
            {"node": 1},
            {"cond/DisruptionTarget": 1},
            {"node": 1, "cond/DisruptionTarget": 1, "c/trainer": 3, "c/sidecar": 1},
        ),
        ({"pod/Evicted": 1}, {}, {"pod/Evicted": 1, "c/trainer": 3, "c/sidecar": 1}),
        # A count already beyond restartCount + 1 never goes back.
        ({"c/sidecar": 7}, {}, {"c/trainer": 3, "c/sidecar": 7}),
        ({}, {"c/trainer": 9}, {"c/trainer": 9, "c/sidecar": 1}),
        # The caller's count wins over the pod's for the same key, before the max with restartCount + 1.
        ({"node": 1}, {"node": 2}, {"node": 2, "c/trainer": 3, "c/sidecar": 1}),
    ],
)
def test_handled_counts_after_a_restart(
    pod_handled: dict[str, int], passed: dict[str, int], expected: dict[str, int]
) -> None:
    pod = observed(metadata__annotations={HANDLED_FAILURES_ANNOTATION: json.dumps(pod_handled)})
    r = restart_in_place(pod, TEMPLATE, generation=None, handled=passed, now=NOW)
    assert isinstance(r, PodRestart)
    assert dict(r.handled) == expected


@pytest.mark.parametrize("generation", [None, 0, 1, 17])
def test_generation_is_passed_through(generation: int | None) -> None:
    r = restart_in_place(observed(), TEMPLATE, generation=generation, handled={}, now=NOW)
    assert isinstance(r, PodRestart) and r.generation == generation


@pytest.mark.parametrize(("policy", "restartable"), [("Always", True), ("OnFailure", True), ("Never", False)])
def test_restart_policy(policy: str, restartable: bool) -> None:
    r = restart_in_place(observed(spec__restartPolicy=policy), TEMPLATE, generation=None, handled={}, now=NOW)
    if restartable:
        assert isinstance(r, PodRestart)
    else:
        assert r == NotRestartable(
            "train-worker-1", "its restartPolicy is Never; in-place restarts need Always or OnFailure"
        )


def test_a_container_without_a_second_reference_is_not_restartable() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = "registry.example.com/trainer:1"
    pod = observed(spec__containers=template["spec"]["containers"])
    # A runtime that reports no digest and no image ID of its own.
    pod = replace(pod, containers=tuple(replace(c, image_id="") for c in pod.containers))
    r = restart_in_place(pod, template, generation=None, handled={}, now=NOW)
    assert isinstance(r, NotRestartable)
    assert r.pod == "train-worker-1"
    assert "container trainer" in r.why
    assert "podgroup.dev/restart-image.<container>" in r.why


def test_the_template_annotation_names_the_second_reference() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = "registry.example.com/trainer:1"
    template["metadata"]["annotations"] = {ALIAS_ANNOTATION: "trainer-local:1"}
    pod = observed(spec__containers=template["spec"]["containers"])
    r = restart_in_place(pod, template, generation=None, handled={}, now=NOW)
    assert isinstance(r, PodRestart)
    assert r.images["trainer"] == "trainer-local:1"


def test_a_pod_on_its_second_reference_goes_back_to_the_template() -> None:
    containers = [
        {"name": "trainer", "image": "docker.io/library/busybox:1.36"},
        {"name": "sidecar", "image": f"localhost:5000/side@{DIGEST}"},
    ]
    r = restart_in_place(
        observed(spec__containers=containers), TEMPLATE, generation=None, handled={}, now=NOW
    )
    assert isinstance(r, PodRestart)
    # The trainer goes back to the template's reference; the sidecar, reported by digest, gets a
    # reference it never ran under.
    assert r.images == {"trainer": "busybox:1.36", "sidecar": f"localhost:5000/side:pgo-1@{DIGEST}"}


@pytest.mark.parametrize("template", [{}, {"spec": {}}, {"metadata": None, "spec": {"containers": None}}])
def test_a_template_without_the_container_uses_the_pod_own_reference(template: Body) -> None:
    r = restart_in_place(observed(), template, generation=None, handled={}, now=NOW)
    assert isinstance(r, PodRestart)
    assert r.images == {
        "trainer": "docker.io/library/busybox:1.36",
        "sidecar": f"localhost:5000/side:pgo-1@{DIGEST}",
    }


# --- patches ------------------------------------------------------------------------------------


def test_restart_patch_shape() -> None:
    r = PodRestart(
        "train-worker-1",
        UID,
        images={
            "trainer": "docker.io/library/busybox:1.36",
            "sidecar": f"localhost:5000/side:pgo-1@{DIGEST}",
        },
        handled={"c/trainer": 3, "node": 1, "c/sidecar": 1},
        generation=3,
    )
    assert restart_patch(r) == {
        "metadata": {
            "annotations": {
                HANDLED_FAILURES_ANNOTATION: '{"c/sidecar":1,"c/trainer":3,"node":1}',
                RESTART_GENERATION_ANNOTATION: "3",
            }
        },
        "spec": {
            "containers": [
                {"name": "trainer", "image": "docker.io/library/busybox:1.36"},
                {"name": "sidecar", "image": f"localhost:5000/side:pgo-1@{DIGEST}"},
            ]
        },
    }


@pytest.mark.parametrize(("generation", "written"), [(None, None), (0, "0"), (12, "12")])
def test_restart_patch_writes_the_generation_only_when_given(
    generation: int | None, written: str | None
) -> None:
    r = PodRestart("p", UID, images={"main": "x"}, handled={}, generation=generation)
    annotations = restart_patch(r)["metadata"]["annotations"]
    assert annotations.get(RESTART_GENERATION_ANNOTATION) == written
    assert annotations[HANDLED_FAILURES_ANNOTATION] == "{}"


@pytest.mark.parametrize(
    ("pod_handled", "passed", "written"),
    [
        ({}, {}, "{}"),
        ({}, {"c/trainer": 2}, '{"c/trainer":2}'),
        ({"node": 1, "c/trainer": 1}, {"c/trainer": 2}, '{"c/trainer":2,"node":1}'),
        ({"pod/Evicted": 1}, {"cond/DisruptionTarget": 1}, '{"cond/DisruptionTarget":1,"pod/Evicted":1}'),
    ],
)
def test_handled_patch_shape(pod_handled: dict[str, int], passed: dict[str, int], written: str) -> None:
    pod = observed(metadata__annotations={HANDLED_FAILURES_ANNOTATION: json.dumps(pod_handled)})
    assert handled_patch(pod, passed) == {"metadata": {"annotations": {HANDLED_FAILURES_ANNOTATION: written}}}


def test_stop_patch_shape() -> None:
    assert stop_patch(observed(), {"c/trainer": 2}) == {
        "metadata": {"annotations": {HANDLED_FAILURES_ANNOTATION: '{"c/trainer":2}'}},
        "spec": {"activeDeadlineSeconds": 1},
    }


ENDED_AT = "2025-01-02T03:09:58Z"


def _ended(state: str, restart_policy: str = "Always", exit_code: int = 42) -> ObservedPod:
    body = copy.deepcopy(POD)
    body["spec"]["restartPolicy"] = restart_policy
    cs = body["status"]["containerStatuses"][0]
    ended = {"terminated": {"exitCode": exit_code, "reason": "Error", "finishedAt": ENDED_AT}}
    if state == "terminated":
        cs["state"] = ended
    else:  # waiting to start again, the run that ended in lastState
        cs["state"], cs["lastState"] = {"waiting": {"reason": "ContainerCreating"}}, ended
    return observe_pod(body)


@pytest.mark.parametrize("state", ["terminated", "waiting"])
def test_a_container_that_just_ended_is_left_to_the_kubelet(state: str) -> None:
    # The kubelet starts it again within about a second, with the image it had: a switch landing
    # after that start would stop it once more, a restart the handled count cannot foresee.
    r = restart_in_place(_ended(state), TEMPLATE, generation=3, handled={}, now=NOW)
    until = datetime(2025, 1, 2, 3, 9, 58, tzinfo=UTC) + timedelta(seconds=KUBELET_RESTART_SECONDS)
    assert r == KubeletRestarting("train-worker-1", "trainer", until)
    # Still ended after that: the kubelet is backing off (10 s at least), the switch starts it.
    later = restart_in_place(_ended(state), TEMPLATE, generation=3, handled={}, now=until)
    assert isinstance(later, PodRestart) and later.handled["c/trainer"] == 3


def test_a_container_the_kubelet_will_not_start_again_is_switched_at_once() -> None:
    pod = _ended("terminated", restart_policy="OnFailure", exit_code=0)
    assert isinstance(restart_in_place(pod, TEMPLATE, generation=3, handled={}, now=NOW), PodRestart)


def test_patches_do_not_change_the_pod_view() -> None:
    pod = observed()
    handled_patch(pod, {"c/trainer": 5})
    stop_patch(pod, {"node": 1})
    restart_in_place(pod, TEMPLATE, generation=1, handled={"x": 1}, now=NOW)
    assert dict(pod.handled) == {"c/trainer": 1}


# --- round trips through the pod ------------------------------------------------------------------


def _apply_annotations(body: Body, patch: Body) -> Body:
    out = copy.deepcopy(body)
    out["metadata"]["annotations"].update(patch["metadata"]["annotations"])
    return out


def test_a_handled_failure_is_not_seen_again() -> None:
    pod = observe_pod(POD)
    [failure] = detect_failures(pod, node_lost=False, watched_conditions=set())
    assert (failure.key, failure.count) == ("c/trainer", 2)
    after = observe_pod(_apply_annotations(POD, handled_patch(pod, {failure.key: failure.count})))
    assert detect_failures(after, node_lost=False, watched_conditions=set()) == []


def test_the_operator_own_restart_does_not_read_as_a_failure() -> None:
    pod = observe_pod(POD)
    [failure] = detect_failures(pod, node_lost=False, watched_conditions=set())
    r = restart_in_place(pod, TEMPLATE, generation=3, handled={failure.key: failure.count}, now=NOW)
    assert isinstance(r, PodRestart)
    patch = restart_patch(r)
    # The kubelet kills every container for the image change (exit 137) and starts it again.
    body = _apply_annotations(POD, patch)
    body["spec"]["containers"] = patch["spec"]["containers"]
    for cs in body["status"]["containerStatuses"]:
        cs["restartCount"] += 1
        cs["lastState"] = {
            "terminated": {"exitCode": 137, "reason": "Error", "finishedAt": "2025-01-02T03:06:00Z"}
        }
    after = observe_pod(body)
    assert after.restart_generation == 3
    assert detect_failures(after, node_lost=False, watched_conditions=set()) == []
    # A real failure after that is seen again.
    body["status"]["containerStatuses"][1]["restartCount"] += 1
    [again] = detect_failures(observe_pod(body), node_lost=False, watched_conditions=set())
    assert (again.key, again.count) == ("c/sidecar", 2)
