"""The pre-trade risk gate: limits on every order, inventory, live quotes and paper fills."""

from .gate import RiskGate


__all__ = ["RiskGate"]
