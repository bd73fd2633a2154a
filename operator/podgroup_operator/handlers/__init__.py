"""Kopf handlers; importing this package registers them."""

from podgroup_operator.handlers import indexes, lifecycle, triggers

__all__ = ["indexes", "lifecycle", "triggers"]
