"""Names, labels and annotations the operator puts on member pods."""

from podgroup_operator import API_GROUP

GROUP_LABEL = f"{API_GROUP}/name"
ROLE_LABEL = f"{API_GROUP}/role"
INDEX_LABEL = f"{API_GROUP}/index"
GANG_GATE = f"{API_GROUP}/gang"
# Hash of the role's template the pod was built from: a changed template is visible per pod.
TEMPLATE_HASH_ANNOTATION = f"{API_GROUP}/template-hash"


def member_name(group: str, role: str, index: int) -> str:
    """Stable pod name of one member: creating it twice is refused by the API server."""
    return f"{group}-{role}-{index}"


# Written when the gang planner releases a member: when, and to which node it was pinned.
# Both are read back after a restart: the reservation and the schedule timeout follow from them.
ADMITTED_AT_ANNOTATION = f"{API_GROUP}/admitted-at"
PLANNED_NODE_ANNOTATION = f"{API_GROUP}/planned-node"
# The topology domain the planner chose for the gang, on each member it released.
TOPOLOGY_DOMAIN_ANNOTATION = f"{API_GROUP}/topology-domain"
# The group restart generation a member runs in; the program inside can read it through the
# downward API to tell incarnations apart.
RESTART_GENERATION_ANNOTATION = f"{API_GROUP}/restart-generation"
# The key of the RecreateGroup decision a member was created after (status.lastFailure.key): the
# members without it are the ones that decision has still to recreate, even after a crash.
RECREATED_FOR_ANNOTATION = f"{API_GROUP}/recreated-for"
# JSON map of failure keys the operator has acted on for this pod, with the restart count (or 1)
# they stand for: a failure is acted on once, even across operator restarts.
HANDLED_FAILURES_ANNOTATION = f"{API_GROUP}/handled-failures"
# podgroup.dev/restart-image.<container>: a second reference to the container's image, for
# in-place restarts where the runtime reports no digest (e.g. images imported, not pulled).
RESTART_IMAGE_ANNOTATION_PREFIX = f"{API_GROUP}/restart-image."
# The group's current size and the member's role size, kept current on every member (a scale
# patches them): unlike PODGROUP_WORLD_SIZE in the environment, which is fixed when the pod is
# created, a downward-API volume of these annotations updates in place.
WORLD_SIZE_ANNOTATION = f"{API_GROUP}/world-size"
ROLE_SIZE_ANNOTATION = f"{API_GROUP}/role-size"
# When the operator last resized the pod, RFC 3339; written by the k8s layer with each resize
# (the pods/resize subresource cannot carry annotations), read back for the cooldown.
RESIZED_AT_ANNOTATION = f"{API_GROUP}/resized-at"
