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


def _repository(ref: str) -> str:
    repo, _ = _split(ref)
    return _split(repo)[0] if "@" in ref else repo


def _normalized(repo: str) -> str:
    """docker.io/library/busybox for busybox: the name the runtime records."""
    if _domain(repo) is not None:
        return repo
    return f"{DOCKER_HUB}/{repo if '/' in repo else f'library/{repo}'}"


def _resolvable_digest_repository(current: str, image_id: str, pull_policy: str) -> str | None:
    """The repository under which <repository>@<digest> names an image the node has, or None
    (also where the runtime reports no digest). The spec's, where the runtime reports the
    digest under it (the runtime pulled it by that name), or where the kubelet pulls anyway
    (Always: from the user's registry, with the user's pull secrets). A digest under another
    repository is no reference the node resolves: `kind load` (ctr import --digests) stores
    import-<date>@sha256:..., which the runtime reports as docker.io/library/import-<date>@sha256:...
    and resolves under neither spelling, nor under the spec's repository (measured on kind at
    1.35.4: ErrImageNeverPull for all three)."""
    if "@sha256:" not in image_id:
        return None
    spec_repo, runtime_repo = _repository(current), image_id.split("@", 1)[0]
    if pull_policy == "Always" or _normalized(spec_repo) == _normalized(runtime_repo):
        return spec_repo
    return None


def alternate_image(
    container: str,
    current: str,
    template_image: str,
    image_id: str,
    annotations: Mapping[str, str],
    restart_count: int = 0,
    pull_policy: str = "IfNotPresent",
) -> str | None:
    """The reference to switch to, or None when no second reference to the same image is known.

    In order:
    - where the runtime reports a digest the node resolves (an image pulled by the spec's
      name, or pull policy Always), a reference that has
      never been used in this pod: repository:pgo-<n>@sha256:..., n the container's next
      restart count. The digest decides what runs; the tag only makes the reference new, which
      matters because the kubelet keys its crash-loop backoff by the image reference, and a
      reference used before would delay the restart by that backoff (10 s, then doubling);
    - back to the template's reference when the pod runs another one;
    - an alias the template names in the podgroup.dev/restart-image.<container> annotation;
    - the fully qualified Docker Hub name;
    - the image ID the runtime reports for images it did not pull (sha256:...).
    The last three alternate between two references, so repeated restarts within ten minutes
    meet the kubelet's backoff.
    """
    repository = _resolvable_digest_repository(current, image_id, pull_policy)
    if repository is not None:
        return f"{repository}:pgo-{restart_count + 1}@{image_id.split('@', 1)[1]}"
    if current != template_image:
        return template_image
    alias = annotations.get(f"{RESTART_IMAGE_ANNOTATION_PREFIX}{container}")
    if alias and alias != current:
        return alias
    qualified = _fully_qualified(current)
    if qualified is not None:
        return qualified
    if image_id.startswith("sha256:"):
        # containerd reports an image it did not pull (imported) by its ID, and resolves that
        # ID as a reference to the same stored image (with imagePullPolicy IfNotPresent/Never).
        return image_id
    return None
