"""Memories whose reads never meet a write to their address: :class:`CollisionFreeMemory`.

Amaranth defines what a synchronous read port returns when it reads the address a write port
writes in the same cycle: the old data, or the new for a transparent port. An iCE40's block RAM
defines neither, so Yosys puts a register and a multiplexer on each data bit of every block RAM
to provide it (some 290 logic cells for a 138-bit order table, 40 for a byte ring). A memory
whose reads never meet such a write says so by being a :class:`CollisionFreeMemory`: it carries
the :data:`COLLISION_FREE` attribute, by which the iCE40 build tells Yosys that the result of a
collision is undefined (:mod:`tickforge.bitstreams.build`), and it asserts the promise on every
clock edge, so a simulation that breaks it fails (synthesis removes the assertion).
"""

from pathlib import Path

from amaranth.hdl import Assert, Module
from amaranth.lib.memory import Memory


__all__ = ["COLLISION_FREE", "CollisionFreeMemory"]


COLLISION_FREE = "tickforge.collision_free"
"""Memory attribute: no enabled read ever meets a write to its address in the same cycle."""

_CHECKOUT = Path(__file__).resolve().parent.parent


def _made_at(src_loc):
    """Where a memory was made, from the checkout's top: the assertion's message goes into the
    netlist, which must not depend on where the checkout is (a board's build digest covers it)."""
    file, line = src_loc
    path = Path(file).resolve()
    if path.is_relative_to(_CHECKOUT):
        path = path.relative_to(_CHECKOUT)
    return f"{path.as_posix()}:{line}"


class CollisionFreeMemory(Memory):
    """A :class:`~amaranth.lib.memory.Memory` with one write port and one synchronous,
    non-transparent read port, whose user promises that the read port, when enabled, never reads
    the address the write port writes in the same cycle: a read the design would not use is
    disabled rather than left to collide."""

    def __init__(self, *, shape, depth, init, src_loc_at=0):
        super().__init__(shape=shape, depth=depth, init=init, attrs={COLLISION_FREE: "1"},
                         src_loc_at=1 + src_loc_at)

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = super().elaborate(platform)
        made_at = _made_at(self.src_loc)
        if len(self.read_ports) != 1 or len(self.write_ports) != 1:
            raise ValueError(f"the collision-free memory made at {made_at} needs one read "
                             f"port and one write port")
        (read,), (write,) = self.read_ports, self.write_ports
        if read.domain != write.domain or read.transparent_for:
            raise ValueError(f"the collision-free memory made at {made_at} needs a "
                             f"synchronous read port, not transparent, in its write port's "
                             f"domain")
        # (a write port with a granularity has an enable per part: any of them writes)
        m.d[read.domain] += Assert(~(read.en & write.en.any() & (read.addr == write.addr)),
                                   f"the collision-free memory made at {made_at} read the "
                                   f"address written in the same cycle")
        return m
