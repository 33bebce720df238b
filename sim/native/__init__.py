"""The board in software: a stream component verilated into a native binary, for replaying a
day of market data through the RTL in minutes (cocotb is for verification; this is for volume).

Usage::

    sim = NativeSim.build(Core(config), "core")      # cached: instant the second time
    run = sim.run(day_bytes, idle=0.1, backpressure=0.2, seed=1)
    for event in run.decoded(event_codec(config.exported_levels)):
        ...
    print(run.stats["cycles_per_second"])

    with sim.serve() as server:                       # the host's socket transport
        connection = server.connect()                 # 127.0.0.1:server.port

The design is any ``wiring.Component`` with exactly two ports:

- ``i: In(stream.Signature(input_beat_layout(width)))``: the harness sends the input bytes
  ``width`` per beat, lane 0 first, ``count`` = bytes valid; every other field (``first``) is 0.
  Beats are offered back to back; only the last beat of the input may be partial. With
  ``idle`` > 0 a seeded random choice holds ``i.valid`` low for a cycle before a beat.
- ``o: Out(stream.Signature(layout))`` of any width: ``o.ready`` is high, or low on seeded random
  cycles with ``backpressure`` > 0.

Clock and reset: ``rst`` is held for 2 cycles first; cycle 0 is the first cycle after it.

Output records: one per ``o`` transfer, in order, each the payload as ``ceil(bits / 8)`` bytes,
little-endian (bit 0 of the payload is bit 0 of byte 0; padding bits are 0) — the bytes a
:class:`~tickforge.host.codec.BitCodec` decodes. No header, no separator.

The run ends when the input is exhausted and the design has been quiet for ``drain`` cycles
(no input taken, ``o.valid`` low): ``drain`` must exceed the design's latency.
It fails (non-zero exit, :class:`NativeSimHang`) if a beat waits ``hang`` cycles with nothing
moving in or out: ``hung: N cycles without progress at input byte M ...``.

Statistics (a JSON object, ``run.stats``; also attached to errors):

- ``result``: ``"ok"``, ``"hung"`` or ``"cycle_limit"``
- ``cycles``: cycles simulated after reset, drain included
- ``busy_cycles``: first input transfer to last output transfer, both included (0 if none)
- ``first_input_cycle``, ``last_output_cycle``: those cycles (null if none)
- ``input_bytes``, ``input_beats``: bytes and beats the design accepted
- ``input_stall_cycles``: cycles with ``i.valid`` high and ``i.ready`` low
- ``idle_cycles``: cycles the harness held ``i.valid`` low by the ``idle`` choice
- ``starved_cycles``: cycles without input to offer (socket mode only: the host was slower)
- ``output_records``: ``o`` transfers; ``record_bytes``: bytes per record
- ``backpressure_cycles``: cycles with ``o.valid`` high and ``o.ready`` held low
- ``wall_seconds``: wall time of the simulation loop; ``cycles_per_second``: their ratio
- ``idle``, ``backpressure``, ``seed``: the options of the run

A replay (:meth:`NativeSim.run`) never starves the design: when the input pipe is empty the
simulator waits for it without advancing the clock, so cycle counts depend only on the data
and the options.

Socket mode (:meth:`NativeSim.serve`) listens on 127.0.0.1 only and serves one connection: the
same bytes in and records out, but paced by the host: when no input is waiting the design keeps
running with ``i.valid`` low (``starved_cycles``), a beat carries whatever bytes have arrived
(so partial beats happen mid-stream), and once the design has been quiet for ``drain`` cycles
the output is flushed and the simulator (and simulated time) waits for the host. Cycle counts
are therefore only reproducible through :meth:`NativeSim.run`.

The harness binary can also be run by hand: ``Vdut [--stats PATH] [--listen PORT] [--idle P]
[--backpressure P] [--seed N] [--drain CYCLES] [--hang CYCLES] [--max-cycles CYCLES]`` with
input on stdin and records on stdout; exit status 0 ok, 1 I/O error, 2 bad arguments, 3 hung,
4 cycle limit.
"""

from .build import NativeBuild, NativeBuildError, PortShapes, port_shapes
from .runner import NativeSim, NativeRun, NativeServer, NativeSimError, NativeSimHang, LOOPBACK


__all__ = ["NativeSim", "NativeRun", "NativeServer", "NativeSimError", "NativeSimHang",
           "NativeBuild", "NativeBuildError", "PortShapes", "port_shapes", "LOOPBACK"]
