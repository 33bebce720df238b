"""What each kernel after the book sees and must produce, recorded from the golden model."""

from tickforge.hdl.params import PARAM_BY_NAME
from tickforge.host.model.core import CoreModel
from tickforge.host.protocol import encode


def config_writes(settings):
    """ConfigWrite units for ``{name: value}`` or ``{(name, index): value}`` settings."""
    units = []
    for key, value in settings.items():
        name, index = key if isinstance(key, tuple) else (key, 0)
        units.append(encode("c", parameter=PARAM_BY_NAME[name].number, index=index,
                            value=value))
    return b"".join(units)


def record_stage(config, data, stage):
    """Run the whole model on ``data`` and record kernel ``stage`` ("params", "pricing",
    "signals", "risk" or "output"): the events that entered it, and for each the events it
    passed on. Returns (model, [(event in, [events out])])."""
    model = CoreModel(config)
    names = ["params", "pricing", "signals", "risk", "output"]
    index = names.index(stage)
    seen = []
    original = model.stages

    def stages():
        functions = original()
        inner = functions[index]

        def recorded(event):
            out = inner(event)
            seen.append((event, list(out)))
            return out
        functions[index] = recorded
        return functions
    model.stages = stages
    model.feed(data)
    return model, seen
