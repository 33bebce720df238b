"""Golden model of the parameter registers (see :mod:`tickforge.hdl.params`)."""

from ...hdl.layouts import EventKind
from ...hdl.params import PARAMS, PARAM_BY_NAME, PARAM_BY_NUMBER, param_count, param_limit


__all__ = ["ParamStore"]


class ParamStore:
    """Every parameter's current value. As a kernel it takes the CONFIG events out of the
    stream and applies them; a write the gateware would refuse changes nothing and is counted
    in ``errors``. ``on_write[name]`` callbacks run after a parameter is written."""

    def __init__(self, config):
        self.config = config
        self._values = {param.name: [param.default] * param_count(param, config)
                        for param in PARAMS}
        self.errors = 0
        self.on_write = {}

    def process(self, event):
        if event.kind != EventKind.CONFIG:
            return [event]
        body = event.body
        if self.write(body.parameter, body.index, body.value):
            callback = self.on_write.get(PARAM_BY_NUMBER[body.parameter].name)
            if callback:
                callback()
        else:
            self.errors += 1
        return []

    def value(self, name, index=0):
        return self._values[name][index]

    def write(self, number, index, value):
        param = PARAM_BY_NUMBER.get(number)
        if param is None or not 0 <= index < param_count(param, self.config):
            return False
        if not param.minimum <= value <= param_limit(param, self.config):
            return False
        self._values[param.name][index] = value
        return True

    def check(self, name, index, value):
        """Raise ValueError unless ``write`` would take this value (for host-side checks)."""
        param = PARAM_BY_NAME.get(name)
        if param is None:
            raise ValueError(f"unknown parameter {name!r}")
        count = param_count(param, self.config)
        if not 0 <= index < count:
            raise ValueError(f"{name}: index {index} is outside 0..{count - 1} "
                             f"({param.scope.value} parameter)")
        limit = param_limit(param, self.config)
        if not param.minimum <= value <= limit:
            raise ValueError(f"{name}: {value} is outside {param.minimum}..{limit}")
        return param
