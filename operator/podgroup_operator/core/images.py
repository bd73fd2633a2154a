"""A second reference to the image a container already runs, for restarting it in place.

In a running pod the container image is mutable; changing it makes the kubelet restart that
container in place (same pod UID, node and IP). Two references that name the same stored image
need no pull, so swapping between them restarts the container and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from podgroup_operator.core.labels import RESTART_IMAGE_ANNOTATION_PREFIX

DOCKER_HUB = "docker.io"


def _split(ref: str) -> tuple[str, str]:
    """(repository, tag-or-digest suffix including its separator)."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, "@" + digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon:]
    return ref, ":latest"


def _domain(repo: str) -> str | None:
    first = repo.split("/", 1)[0]
    return first if "/" in repo and ("." in first or ":" in first or first == "localhost") else None


def _fully_qualified(ref: str) -> str | None:
    """docker.io/library/busybox:1.36 for busybox:1.36 (the same image to the runtime)."""
    repo, suffix = _split(ref)
    if _domain(repo) is not None:
        return None
    path = repo if "/" in repo else f"library/{repo}"
    return f"{DOCKER_HUB}/{path}{suffix}"


def alternate_image(
    container: str, current: str, template_image: str, image_id: str, annotations: Mapping[str, str]
) -> str | None:
    """The reference to switch to, or None when no second reference to the same image is known.

    In order: back to the template's reference when the pod runs the other one; an alias the
    template names in the podgroup.dev/restart-image.<container> annotation; the digest the
    runtime resolved (repository@sha256:...); the fully qualified Docker Hub name; the image ID
    the runtime reports for images it did not pull (sha256:...).
    """
    if current != template_image:
        return template_image
    alias = annotations.get(f"{RESTART_IMAGE_ANNOTATION_PREFIX}{container}")
    if alias and alias != current:
        return alias
    if "@sha256:" in image_id:
        by_digest = f"{_split(current)[0]}@{image_id.split('@', 1)[1]}"
        if by_digest != current:  # an image pinned by digest already runs by this reference
            return by_digest
    qualified = _fully_qualified(current)
    if qualified is not None:
        return qualified
    if image_id.startswith("sha256:"):
        # containerd reports an image it did not pull (imported) by its ID, and resolves that
        # ID as a reference to the same stored image (with imagePullPolicy IfNotPresent/Never).
        return image_id
    return None
