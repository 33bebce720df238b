"""A small fuzz campaign in CI: damaged real input into the core RTL and the readers; the
report is reproducible from its seed, and a disagreement or crash fails the command."""

import io

from hypothesis import given, seed as hypothesis_seed, settings, strategies

from tickforge.host import fuzz
from tickforge.host.cli import main
from tickforge.host.feeds.itch import ItchFormatError, iter_units


def test_a_campaign_on_the_rtl_agrees_with_the_model(capsys, seed):
    code = main(["fuzz", "--seed", str(seed), "--inputs", "600", "--target", "sim"])
    out = capsys.readouterr().out
    print(out)
    assert code == 0
    lines = out.splitlines()
    lines = lines[lines.index(f"seed: {seed}"):]
    assert lines[1].startswith("core: 600 inputs (")
    assert lines[-1] == "model and sim agree: yes"
    assert not any(line.startswith("crash: ") for line in lines)


def test_the_same_seed_replays_the_same_campaign(seed):
    first, second = (fuzz.run_campaign(seed, 200, "model") for _ in range(2))
    assert list(first.lines()) == list(second.lines())
    errors = sum(first.model_counters.values()) - first.model_counters["messages"]
    assert first.model_counters["messages"] == 202 and errors > 100
    assert all(first.reader_errors.values())


def test_a_disagreement_fails_the_command(capsys, monkeypatch):
    monkeypatch.setattr(fuzz, "_run_target", lambda target, data: fuzz.CoreModel(
        fuzz.FUZZ_CONFIG).feed(data)[1:])   # one event lost on the way
    assert main(["fuzz", "--seed", "3", "--inputs", "50", "--target", "model"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "model and model agree: NO"


def test_a_reader_crash_fails_the_command(capsys, monkeypatch):
    def crash(folder, data):
        raise KeyError("boom")
    original, _, error = fuzz._READERS["itch"]
    monkeypatch.setitem(fuzz._READERS, "itch", (original, crash, error))
    assert main(["fuzz", "--seed", "3", "--inputs", "20", "--target", "model"]) == 1
    assert "crash: itch: KeyError: 'boom'" in capsys.readouterr().out


@hypothesis_seed(20240808)
@settings(max_examples=300, deadline=None)
@given(strategies.binary(max_size=600), strategies.booleans())
def test_the_itch_reader_reads_any_bytes_or_says_why(data, strict):
    try:
        units = list(iter_units(io.BytesIO(data), strict=strict))
    except ItchFormatError:
        return
    assert b"".join(units) == data
