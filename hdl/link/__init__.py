"""The host link: a serial line (UART, 8N1) carrying CRC-checked, numbered frames both ways
between the host and the core. Protocol: :mod:`.framing`; event encoding: :mod:`.events`;
the pieces assembled: :mod:`.top`."""

from .uart import UARTRx, UARTTx
from .events import EventSerializer, event_sizes
from .framing import Deframer, Framer, FrameSender
from .counters import CounterBank
from .top import Link, SerialLink, LinkedCore, connect_core


__all__ = ["UARTRx", "UARTTx", "EventSerializer", "event_sizes", "Deframer", "Framer",
           "FrameSender", "CounterBank", "Link", "SerialLink", "LinkedCore", "connect_core"]
