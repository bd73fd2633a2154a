"""What a gang (or one of its roles) asks of the topology: its members within one domain of a
node label, chosen among levels given from widest to narrowest (zone, block, rack, hostname).

Required: admitted only inside one domain of `level` (a narrower domain is preferred when one
fits). Preferred: the narrowest domain that fits, trying levels up to `level`, else spread.
"""

from __future__ import annotations

from dataclasses import dataclass

from podgroup_operator.api.topology import TopologyMode, TopologyPolicy


@dataclass(frozen=True)
class TopologyRequest:
    levels: tuple[str, ...]  # node label keys, widest first
    level: str  # one of levels: the widest domain the members may (or should) share
    required: bool

    def search_levels(self) -> tuple[str, ...]:
        """The levels to try, narrowest first: dense packing first, then wider domains."""
        return tuple(reversed(self.levels[self.levels.index(self.level) :]))

    def describe(self) -> str:
        return f"{'required' if self.required else 'preferred'} {self.level}"


def topology_request(policy: TopologyPolicy | None) -> TopologyRequest | None:
    if policy is None:
        return None
    levels = tuple(policy.levels)
    return TopologyRequest(
        levels=levels,
        level=policy.level or levels[0],
        required=policy.mode == TopologyMode.REQUIRED,
    )
