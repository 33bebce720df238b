"""Readers and writers for the market-data files tickforge replays.

- :mod:`.itch` — NASDAQ TotalView-ITCH 5.0 BinaryFILE (plain or gzip): framed units exactly as
  the gateware consumes them, decoded messages, a writer and the stock directory.
- :mod:`.lobster` — LOBSTER message/order-book files and their conversion to an ITCH unit
  stream that rebuilds LOBSTER's book in the golden model and the gateware.
- :mod:`.binance` — Binance depth-stream captures: snapshot + diff sync, exact decimal scaling,
  sequence gaps, and the top-K price-level updates a venue without order ids becomes.
- :mod:`.mold` — MoldUDP64 packets around ITCH units: sequence gaps detected, counted and
  recovered from a book snapshot.
"""
