"""podgroup-operator: a group of pods that behaves as one workload."""

API_GROUP = "podgroup.dev"
API_VERSION = "v1alpha1"
KIND = "PodGroup"
PLURAL = "podgroups"
