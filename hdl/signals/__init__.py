"""The signal kernels between pricing and the risk gate (see :mod:`.kernels`)."""
