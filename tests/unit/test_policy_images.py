"""core.images: a second reference to the image a container runs, for restarting it in place."""

from __future__ import annotations

import pytest

from podgroup_operator.core.images import alternate_image
from podgroup_operator.core.labels import RESTART_IMAGE_ANNOTATION_PREFIX

D = "sha256:" + "0123456789abcdef" * 4
OTHER = "sha256:" + "f" * 64
ALIAS = f"{RESTART_IMAGE_ANNOTATION_PREFIX}main"

CASES = [
    # (id, current, template, imageID, annotations, expected)
    ("back to the template", "docker.io/library/busybox:1.36", "busybox:1.36", D, {}, "busybox:1.36"),
    (
        "a digest gives a fresh reference, even off the template",
        "registry.example.com/app@" + D,
        "registry.example.com/app:1",
        "registry.example.com/app@" + D,
        {},
        "registry.example.com/app:pgo-1@" + D,
    ),
    (
        "back to the template before any alias",
        "local/alias:1",
        "registry.example.com/app:1",
        "",
        {ALIAS: "local/alias:1"},
        "registry.example.com/app:1",
    ),
    (
        "alias",
        "registry.example.com/app:1",
        "registry.example.com/app:1",
        "",
        {ALIAS: "local/app:1"},
        "local/app:1",
    ),
    (
        "the digest wins over an alias",
        "registry.example.com/app:1",
        "registry.example.com/app:1",
        "registry.example.com/app@" + D,
        {ALIAS: "local/app:1"},
        "registry.example.com/app:pgo-1@" + D,
    ),
    (
        "alias of another container is not used",
        "registry.example.com/app:1",
        "registry.example.com/app:1",
        "",
        {"podgroup.dev/restart-image.sidecar": "local/app:1"},
        None,
    ),
    (
        "empty alias is not used",
        "busybox:1.36",
        "busybox:1.36",
        "",
        {ALIAS: ""},
        "docker.io/library/busybox:1.36",
    ),
    (
        "digest, tag",
        "registry.example.com/team/app:v2",
        "registry.example.com/team/app:v2",
        "registry.example.com/team/app@" + D,
        {},
        "registry.example.com/team/app:pgo-1@" + D,
    ),
    (
        "digest, no tag",
        "registry.example.com/app",
        "registry.example.com/app",
        "registry.example.com/app@" + D,
        {},
        "registry.example.com/app:pgo-1@" + D,
    ),
    (
        "digest, registry with a port and a tag",
        "localhost:5000/x:1",
        "localhost:5000/x:1",
        "localhost:5000/x@" + D,
        {},
        "localhost:5000/x:pgo-1@" + D,
    ),
    (
        "digest, registry with a port, no tag",
        "localhost:5000/x",
        "localhost:5000/x",
        "localhost:5000/x@" + D,
        {},
        "localhost:5000/x:pgo-1@" + D,
    ),
    (
        "digest, nested path on a port",
        "registry.local:5000/a/b/c:2.0-rc1",
        "registry.local:5000/a/b/c:2.0-rc1",
        "registry.local:5000/a/b/c@" + D,
        {},
        "registry.local:5000/a/b/c:pgo-1@" + D,
    ),
    (
        "digest, Docker Hub short name",
        "busybox:1.36",
        "busybox:1.36",
        "docker.io/library/busybox@" + D,
        {},
        "busybox:pgo-1@" + D,
    ),
    (
        "digest, Docker Hub user image",
        "myorg/app:2",
        "myorg/app:2",
        "docker.io/myorg/app@" + D,
        {},
        "myorg/app:pgo-1@" + D,
    ),
    ("short name with tag", "busybox:1.36", "busybox:1.36", D, {}, "docker.io/library/busybox:1.36"),
    ("short name, no tag", "busybox", "busybox", "", {}, "docker.io/library/busybox:latest"),
    ("user image", "myorg/app:2", "myorg/app:2", "", {}, "docker.io/myorg/app:2"),
    ("library path", "library/busybox", "library/busybox", "", {}, "docker.io/library/busybox:latest"),
    (
        "short name, digest only in the imageID's config form",
        "pause:3.10",
        "pause:3.10",
        "sha256:abc",
        {},
        "docker.io/library/pause:3.10",
    ),
    ("registry with a dot", "registry.example.com/app:1", "registry.example.com/app:1", "", {}, None),
    ("registry with a port", "localhost:5000/x:1", "localhost:5000/x:1", "", {}, None),
    ("localhost registry", "localhost/x:1", "localhost/x:1", "", {}, None),
    (
        "docker.io spelled out, image ID from the runtime",
        "docker.io/library/busybox:1.36",
        "docker.io/library/busybox:1.36",
        D,
        {},
        D,
    ),
    (
        "fully qualified, image ID from the runtime",
        "registry.local/tools:1.0",
        "registry.local/tools:1.0",
        D,
        {},
        D,
    ),
]


@pytest.mark.parametrize(
    ("current", "template", "image_id", "annotations", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_alternate_image(
    current: str, template: str, image_id: str, annotations: dict[str, str], expected: str | None
) -> None:
    assert alternate_image("main", current, template, image_id, annotations) == expected


@pytest.mark.parametrize(
    ("current", "image_id", "pull_policy", "expected"),
    [
        # Always pulls anyway: from the spec's registry, with the user's pull secrets.
        (
            "mirror.example.com/app:1",
            "registry.example.com/app@" + D,
            "Always",
            "mirror.example.com/app:pgo-1@",
        ),
        # The same repository spelled short in the spec: the spec's spelling stays.
        ("busybox:1.36", "docker.io/library/busybox@" + D, "Never", "busybox:pgo-1@"),
    ],
)
def test_the_digest_reference_names_a_repository_the_runtime_resolves(
    current: str, image_id: str, pull_policy: str, expected: str
) -> None:
    alt = alternate_image("main", current, current, image_id, {}, pull_policy=pull_policy)
    assert alt == expected + D


@pytest.mark.parametrize(
    ("current", "image_id", "annotations", "expected"),
    [
        # kind load / ctr import --digests: import-<date>@<digest>, which the node resolves under
        # no spelling; the annotation's alias is used instead.
        (
            "registry.local/tools:1.0",
            "docker.io/library/import-2026-12-02@" + D,
            {"podgroup.dev/restart-image.main": "registry.local/tools:1.0-alt"},
            "registry.local/tools:1.0-alt",
        ),
        # A short Docker Hub name loaded the same way: its fully qualified spelling.
        ("app:dev", "docker.io/library/import-2026-12-02@" + D, {}, "docker.io/library/app:dev"),
        # No second reference known: nothing to switch to (never an unresolvable digest).
        ("mirror.example.com/app:1", "registry.example.com/app@" + D, {}, None),
    ],
)
def test_a_digest_under_another_repository_is_never_switched_to(
    current: str, image_id: str, annotations: dict[str, str], expected: str | None
) -> None:
    alt = alternate_image("main", current, current, image_id, annotations, pull_policy="IfNotPresent")
    assert alt == expected


@pytest.mark.parametrize(("template", "image_id"), [("busybox:1.36", ""), ("myorg/app", "")])
def test_switching_twice_comes_back_to_the_template(template: str, image_id: str) -> None:
    first = alternate_image("main", template, template, image_id, {})
    assert first is not None and first != template
    assert alternate_image("main", first, template, image_id, {}) == template


@pytest.mark.parametrize(
    ("current", "image_id"),
    [
        ("busybox:1.36", "docker.io/library/busybox@" + D),
        ("registry.example.com/app:1", "registry.example.com/app@" + D),
        ("busybox", ""),
    ],
)
def test_the_alternate_always_differs_from_the_current_reference(current: str, image_id: str) -> None:
    alt = alternate_image("main", current, current, image_id, {})
    assert alt is not None and alt != current


@pytest.mark.parametrize(
    ("current", "image_id"),
    [
        ("busybox@" + D, "docker.io/library/busybox@" + D),
        ("registry.example.com/app@" + D, "registry.example.com/app@" + D),
        ("registry.example.com/app:1@" + D, "registry.example.com/app@" + D),
    ],
    ids=["Docker Hub short name", "fully qualified", "tag and digest"],
)
def test_every_restart_by_digest_gets_a_reference_never_used_in_the_pod(current: str, image_id: str) -> None:
    # The kubelet keys its crash-loop backoff by the image reference: a new one restarts at once.
    seen = {current}
    for restart_count in range(5):
        alt = alternate_image("main", current, current, image_id, {}, restart_count)
        assert alt is not None and alt not in seen and alt.endswith("@" + D)
        seen.add(alt)


def test_a_different_digest_in_the_image_id_is_taken_as_resolved() -> None:
    # The tag moved after the pull: the runtime's digest names what runs, so that is what is kept.
    current = "registry.example.com/app:1"
    assert alternate_image("main", current, current, "registry.example.com/app@" + OTHER, {}) == (
        "registry.example.com/app:pgo-1@" + OTHER
    )
