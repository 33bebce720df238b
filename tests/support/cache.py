"""Checks of the native simulators' cache as a user meets it."""

import gc
import warnings

from amaranth.hdl import Fragment, Module, UnusedElaboratable


def found_again_quietly(build):
    """Call ``build()``, a simulator built before, and return it with the messages of Amaranth's
    "created but never used" warnings it caused (there must be none: the recipe finds the binary
    without making the design, and once the demo printed the warning). Amaranth
    warns only once something has been elaborated, as in the demo, so something is first."""
    Fragment.get(Module(), None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        simulator = build()
        gc.collect()   # the design is in reference cycles: collect it here
    return simulator, [str(w.message) for w in caught if issubclass(w.category, UnusedElaboratable)]
