"""Formal proofs of the gateware's properties with SymbiYosys: :func:`prove` runs one,
:data:`PROOFS` lists them all, ``python -m tickforge.sim.formal`` runs them."""

from .runner import ProofResult, FormalToolError, prove, combinational_path
from .proofs import Proof, NoCombinationalPath, PROOFS


__all__ = ["ProofResult", "FormalToolError", "prove", "combinational_path", "Proof",
           "NoCombinationalPath", "PROOFS"]
