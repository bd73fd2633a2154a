"""The resize wing, one concern per module: units (the resources sized), histogram (decaying
usage histograms), params, usage (what is learnt per container and role), recommender (targets
from usage), limits (proportional limits, written quantities), pod_resources (what a member pod
holds, read with ObservedPod), plan (which members to resize, by how much), patch (the
pods/resize body), polling (when to look again)."""
