"""Start native simulator processes and talk to them: pipes for replays, a socket for hosts."""

import fcntl
import json
import os
import secrets
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from .build import build, build_recipe


__all__ = ["NativeSim", "NativeRun", "NativeServer", "NativeSimError", "NativeSimHang",
           "LOOPBACK"]


LOOPBACK = "127.0.0.1"

_EXIT_HUNG = 3
_EXIT_CYCLE_LIMIT = 4


class NativeSimError(RuntimeError):
    """The simulator stopped before finishing; ``stats`` holds what it had counted (or None)
    and ``log`` its standard error, which also carries the design's own prints."""

    def __init__(self, message, stats=None, log=""):
        super().__init__(message)
        self.stats = stats
        self.log = log


class NativeSimHang(NativeSimError):
    """Input was waiting but the design neither accepted it nor produced output for ``hang``
    cycles."""


def _exit_error(returncode, log, stats):
    lines = log.strip().splitlines()
    if returncode == _EXIT_HUNG:
        return NativeSimHang(lines[-1], stats, log)
    if returncode == _EXIT_CYCLE_LIMIT:
        return NativeSimError(lines[-1], stats, log)
    if returncode < 0:
        message = f"native simulator killed by signal {-returncode}"
    else:
        message = f"native simulator failed (exit {returncode})"
    tail = "\n".join(lines[-20:])
    return NativeSimError(f"{message}:\n{tail}" if tail else message, stats, log)


def _grow_pipe(pipe):
    """Ask for 1 MiB pipes so each side moves data in large writes; fine if refused."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass


class _Process:
    """A simulator process with its stats file and standard error in a private folder."""

    def __init__(self, command, **popen):
        self._folder = tempfile.TemporaryDirectory(prefix="tickforge-native-")
        folder = Path(self._folder.name)
        self._stats_path = folder / "stats.json"
        self._log_path = folder / "stderr.log"
        self.stats = None
        self.log = ""
        with open(self._log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*command[:1], "--stats", str(self._stats_path), *command[1:]],
                stderr=log, **popen)

    def finish(self):
        """Wait for the exit, collect stats and log, and raise if the simulator failed."""
        returncode = self.process.wait()
        if self._folder is not None:
            self.log = self._log_path.read_text(errors="replace")
            if self._stats_path.exists():
                self.stats = json.loads(self._stats_path.read_text())
            self._folder.cleanup()
            self._folder = None
        if returncode != 0:
            raise _exit_error(returncode, self.log, self.stats)
        return self.stats

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


class NativeRun:
    """One replay: a writer thread feeds the input while the caller reads records.

    Iterate for records (``bytes`` of ``record_bytes`` each), or call :meth:`blocks` for large
    ``bytes`` holding whole records. Once the output is exhausted the simulator has exited and
    ``stats`` is set; a failure raises :class:`NativeSimError` at that point. Use it as a
    context manager (or call :meth:`close`) to stop a run before its end.
    """

    def __init__(self, command, data, record_bytes, seed):
        if isinstance(data, str):
            raise TypeError("input must be bytes or an iterable of bytes chunks, not str")
        self.record_bytes = record_bytes
        self.seed = seed
        self._reading = False
        self._feed_error = None
        self._process = _Process(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _grow_pipe(self._process.process.stdin)
        _grow_pipe(self._process.process.stdout)
        self._writer = threading.Thread(target=self._feed, args=(data,), daemon=True,
                                        name="native-sim-input")
        self._writer.start()

    @property
    def stats(self):
        """The simulator's statistics (see the package docstring), once it has exited."""
        return self._process.stats

    @property
    def log(self):
        return self._process.log

    def _feed(self, data):
        stdin = self._process.process.stdin
        chunks = (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data
        try:
            for chunk in chunks:
                stdin.write(chunk)
        except BrokenPipeError:
            pass  # the simulator stopped early; its exit status says why
        except BaseException as error:  # a failing chunk source: stop the run, re-raise later
            self._feed_error = error
            self._process.process.kill()
        finally:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    def blocks(self):
        """Yield ``bytes`` of whole records as the simulator writes them."""
        if self._reading:
            raise RuntimeError("the output of a run can be read only once")
        self._reading = True
        size = self.record_bytes
        fd = self._process.process.stdout.fileno()
        pending = b""
        completed = False
        try:
            while chunk := os.read(fd, 1 << 20):
                if pending:
                    chunk = pending + chunk
                whole = len(chunk) - len(chunk) % size
                pending = chunk[whole:]
                if whole:
                    yield chunk if whole == len(chunk) else chunk[:whole]
            completed = True
        finally:
            if not completed:
                self.close()
        self._finish(len(pending))

    def __iter__(self):
        size = self.record_bytes
        for block in self.blocks():
            for offset in range(0, len(block), size):
                yield block[offset:offset + size]

    def decoded(self, codec):
        """The records decoded by a :class:`~tickforge.host.codec.BitCodec` of the ``o``
        payload's layout."""
        if codec.nbytes != self.record_bytes:
            raise ValueError(f"the codec decodes {codec.nbytes}-byte values but the records "
                             f"are {self.record_bytes} bytes")
        return map(codec.decode, self)

    def _finish(self, trailing_bytes):
        self._writer.join()
        self._process.process.stdout.close()
        try:
            self._process.finish()
        finally:
            if self._feed_error is not None:
                raise self._feed_error
        if trailing_bytes:
            raise NativeSimError(f"output ended {trailing_bytes} bytes into a record",
                                 self.stats, self.log)

    def close(self):
        """Stop the simulator if it is still running."""
        self._process.kill()
        self._writer.join()
        self._process.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class NativeServer:
    """The simulator listening on 127.0.0.1 for one host connection, as a board's serial port.

    The host sends input bytes and reads records; it may wait for the answer to what it sent
    (the simulator flushes its output whenever it runs out of input and the design has gone
    quiet). Shutting down the sending side ends the run; :meth:`wait` then gives the stats.
    """

    host = LOOPBACK

    def __init__(self, command, port, record_bytes, seed):
        self.record_bytes = record_bytes
        self.seed = seed
        self._process = _Process([*command, "--listen", str(port)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE)
        line = self._process.process.stdout.readline()
        self._process.process.stdout.close()
        if not line:
            self._process.finish()
            raise NativeSimError("native simulator exited before listening", None,
                                 self._process.log)
        self.port = int(line)

    @property
    def stats(self):
        return self._process.stats

    @property
    def log(self):
        return self._process.log

    def connect(self, timeout=None):
        """A TCP connection to the simulator (it accepts exactly one)."""
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def wait(self):
        """Wait until the simulator has finished (the host closed its sending side and the
        design went quiet) and return its stats."""
        return self._process.finish()

    def close(self):
        self._process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _check_probability(name, value):
    if not (isinstance(value, (int, float)) and 0 <= value < 1):
        raise ValueError(f"{name} must be a probability in [0, 1), not {value!r}")


def _check_count(name, value, minimum):
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")


class NativeSim:
    """A design compiled with the native harness; every run starts a fresh simulator, so the
    design starts from reset each time.

    Options shared by :meth:`run` and :meth:`serve`:

    ``idle``: probability of holding ``i.valid`` low for a cycle before offering a beat.
    ``backpressure``: probability of holding ``o.ready`` low for a cycle.
    ``seed``: seeds both random patterns (drawn at random and reported in stats if None).
    ``drain``: quiet cycles (no input taken, ``o.valid`` low) that mean the design is done
    with its input: after the input ends they end the run; in socket mode they flush the output
    and wait for the host. Must exceed the design's latency.
    ``hang``: cycles a beat may wait with nothing moving in or out before the run fails with
    :class:`NativeSimHang`.
    ``max_cycles``: stop with :class:`NativeSimError` after this many cycles (None: no limit).
    """

    def __init__(self, native_build):
        self.native_build = native_build
        self.binary = native_build.binary
        self.shapes = native_build.shapes

    @classmethod
    def build(cls, component, name="dut", *, jobs=2):
        """Verilate ``component`` (a ``wiring.Component`` with ports ``i`` and ``o``, see the
        package docstring) with the harness, reusing a cached binary when there is one."""
        return cls(build(component, name, jobs=jobs))

    @classmethod
    def from_recipe(cls, recipe, make, name="dut", *, jobs=2):
        """The simulator of the component ``make()`` returns, found by ``recipe`` without making
        it when it was built before (see :func:`~tickforge.sim.native.build.build_recipe`)."""
        return cls(build_recipe(recipe, make, name, jobs=jobs))

    @property
    def width(self):
        """Bytes per input beat."""
        return self.shapes.width

    @property
    def record_bytes(self):
        return self.shapes.record_bytes

    @property
    def record_bits(self):
        return self.shapes.out_bits

    def _command(self, idle, backpressure, seed, drain, hang, max_cycles):
        _check_probability("idle", idle)
        _check_probability("backpressure", backpressure)
        if seed is None:
            seed = secrets.randbits(63)
        _check_count("seed", seed, 0)
        if seed >= 1 << 64:
            raise ValueError(f"seed must be below 2**64, not {seed}")
        _check_count("drain", drain, 1)
        _check_count("hang", hang, 1)
        command = [str(self.binary), "--idle", repr(float(idle)),
                   "--backpressure", repr(float(backpressure)), "--seed", str(seed),
                   "--drain", str(drain), "--hang", str(hang)]
        if max_cycles is not None:
            _check_count("max_cycles", max_cycles, 1)
            command += ["--max-cycles", str(max_cycles)]
        return command, seed

    def run(self, data, *, idle=0.0, backpressure=0.0, seed=None, drain=10_000,
            hang=1_000_000, max_cycles=None):
        """Replay ``data`` through the design at full rate; returns a :class:`NativeRun` to
        iterate for records. ``data`` is bytes or an iterable of bytes chunks, such as
        ``iter(functools.partial(file.read, 1 << 20), b"")`` for a capture file."""
        command, seed = self._command(idle, backpressure, seed, drain, hang, max_cycles)
        return NativeRun(command, data, self.record_bytes, seed)

    def serve(self, *, port=0, idle=0.0, backpressure=0.0, seed=None, drain=10_000,
              hang=1_000_000, max_cycles=None):
        """Start the simulator listening on 127.0.0.1:``port`` (0: any free port) for one
        connection; returns a :class:`NativeServer` that knows the port."""
        _check_count("port", port, 0)
        command, seed = self._command(idle, backpressure, seed, drain, hang, max_cycles)
        return NativeServer(command, port, self.record_bytes, seed)
