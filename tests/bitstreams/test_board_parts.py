"""`tickforge bitstream BOARD --parts`: each part of a board's gateware synthesized alone, with
the build's own Yosys commands, so a part that does not fit can be found."""

import dataclasses

import pytest

from tickforge.bitstreams.boards import BOARDS
from tickforge.bitstreams.parts import part_sizes
from tickforge.host.cli import main


def test_a_larger_ring_takes_another_block_ram():
    """The cells are counted from the synthesis, not assumed: the link's receive ring of 512
    bytes fills one 4-kbit block RAM, and twice that fills two."""
    entry = BOARDS["icebreaker"]
    larger = dataclasses.replace(entry, link={**entry.link, "rx_ring": 2 * entry.link["rx_ring"]})
    small, large = (part_sizes(board, ["link"])["link"] for board in (entry, larger))
    assert large["BRAM"] == small["BRAM"] + 1
    assert small["LUT4"] > small["FF"] > 0


def test_a_part_the_board_lacks_is_named():
    with pytest.raises(ValueError, match=r"icebreaker has no part 'risk'; its parts are parser, "
                                         r"book, core, serializer, link"):
        part_sizes("icebreaker", ["book", "risk"])


def test_the_command_prints_a_row_per_part(monkeypatch, capsys):
    sizes = {"book": {"LUT4": 2744, "FF": 860}, "link": {"LUT4": 12, "FF": 3}}
    monkeypatch.setattr("tickforge.bitstreams.parts.part_sizes",
                        lambda name: sizes if name == "icebreaker" else None)
    assert main(["bitstream", "icebreaker", "--parts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["part", "LUT4", "FF"]
    assert [line.split() for line in lines[2:]] == [["book", "2,744", "860"],
                                                     ["link", "12", "3"]]
