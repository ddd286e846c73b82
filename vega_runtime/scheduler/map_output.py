"""Where each map task's shuffle output lives (the driver's map output tracker)."""

from __future__ import annotations

from typing import Dict, List, Optional

from ..shuffle.blocks import MapStatus


class MapOutputTracker:
    def __init__(self) -> None:
        self._outputs: Dict[int, List[Optional[MapStatus]]] = {}

    def register_shuffle(self, shuffle_id: int, num_maps: int) -> None:
        self._outputs.setdefault(shuffle_id, [None] * num_maps)

    def register(self, status: MapStatus) -> bool:
        """Record a map output; False when that map output was already known."""
        slots = self._outputs[status.shuffle_id]
        new = slots[status.map_id] is None
        slots[status.map_id] = status
        return new

    def unregister_shuffle(self, shuffle_id: int) -> None:
        self._outputs.pop(shuffle_id, None)

    def unregister(self, shuffle_id: int, map_id: int) -> None:
        if shuffle_id in self._outputs:
            self._outputs[shuffle_id][map_id] = None

    def unregister_all(self, shuffle_id: int) -> None:
        """Forget every map output of a shuffle (a barrier map stage reruns whole)."""
        if shuffle_id in self._outputs:
            self._outputs[shuffle_id] = [None] * len(self._outputs[shuffle_id])

    def remove_executor(self, executor_id: str) -> List[tuple]:
        """Forget every output written by ``executor_id``; returns (shuffle_id, map_id) pairs."""
        lost = []
        for shuffle_id, slots in self._outputs.items():
            for map_id, status in enumerate(slots):
                if status is not None and status.executor_id == executor_id:
                    slots[map_id] = None
                    lost.append((shuffle_id, map_id))
        return lost

    def missing(self, shuffle_id: int) -> List[int]:
        return [i for i, s in enumerate(self._outputs.get(shuffle_id, ())) if s is None]

    def is_available(self, shuffle_id: int) -> bool:
        return shuffle_id in self._outputs and not self.missing(shuffle_id)

    def statuses(self, shuffle_id: int) -> List[MapStatus]:
        return list(self._outputs[shuffle_id])

    def bytes_written(self, shuffle_id: int) -> int:
        return sum(s.bytes_written() for s in self._outputs.get(shuffle_id, ()) if s)
