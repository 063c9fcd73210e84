"""The fork server's program (see ``forkserver.py``), run with ``python -c MODE MODULE...``:
load what a command of that mode loads first, then fork a child per request. In mode ``-m`` a
child becomes ``python -m incr.cli ARGS``; in mode ``script``, ``python FILE ARGS``.

In mode ``-m`` the server imports what ``incr/cli.py`` imports, and networkx. In both modes it
loads the modules named as its arguments, on purpose (see ``forkserver.py``), and then tells on
its first line of output the top-level names of every module it has loaded. A script's server
loads nothing of incr: ``import incr`` looks at the script that imports it.
Requests come as ``marshal`` data (built in and always loaded), replies as lines of digits:
the child's pid when it starts, then its exit status when it ends.
Before forking it freezes what it has loaded out of the garbage collector's reach: a child
that collects would otherwise touch, and so copy, every page it shares with the server.
"""

import gc
import marshal  # built into the interpreter: always loaded
import os
import sys


def serve() -> dict:
    """Wait for requests; return one in a child, never in the server."""
    if sys.argv[1] == "-m":
        import runpy  # noqa: F401  ``python -m`` loads it first

        import incr
        import incr.cli  # what every command imports first, done once here

        del sys.modules["incr.cli"]  # ``python -m`` runs the file as ``__main__`` alone
        del incr.cli
        import networkx  # noqa: F401  loaded on purpose (see forkserver.py)

    for name in sys.argv[2:]:  # loaded on purpose too
        __import__(name)
    tops = sorted({name.partition(".")[0] for name in sys.modules})
    os.write(1, " ".join(tops).encode() + b"\n")
    gc.freeze()
    log = os.environ.get("INCR_TESTS_COMMAND_LOG")
    requests = sys.stdin.buffer
    while True:
        size = requests.readline()
        if not size:
            os._exit(0)
        request = marshal.loads(requests.read(int(size)))
        pid = os.fork()
        if pid == 0:
            return request
        os.write(1, b"%d\n" % pid)
        _, status, usage = os.wait4(pid, 0)
        if log:
            _log(log, usage, request)
        os.write(1, b"%d\n" % os.waitstatus_to_exitcode(status))


def _log(path: str, usage: object, request: dict) -> None:
    """One line per command in the file ``INCR_TESTS_COMMAND_LOG`` names: its user and system
    CPU seconds, its minor page faults, the server's mode, its folder and its arguments."""
    cpu = f"{usage.ru_utime:.3f} {usage.ru_stime:.3f} {usage.ru_minflt}"
    words = " ".join([sys.argv[1], request["cwd"], *request["args"]])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{cpu} {words}\n")


def become(request: dict) -> None:
    """In a child: take the command's folder, environment, streams and arguments."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    if sys.argv[1] == "-m":
        sys.path[0] = os.getcwd()  # what ``python -m`` puts first
        sys.argv = ["-m", *request["args"]]  # runpy puts the module's file first
        sys.orig_argv = [sys.executable, "-m", "incr.cli", *request["args"]]
    else:
        script = request["args"][0]
        sys.path[0] = os.path.dirname(os.path.realpath(script))
        sys.argv = list(request["args"])
        sys.orig_argv = [sys.executable, *request["args"]]
    if "random" in sys.modules:
        sys.modules["random"].seed()  # a fresh process seeds it from the OS


def run_script(path: str) -> None:
    """Run the file as Python runs ``python FILE``: in a new ``__main__`` module, the file's
    frames alone in the traceback of an error that ends it, exit status 1 then."""
    import atexit
    import builtins
    from _frozen_importlib_external import SourceFileLoader  # what Python gives a script

    path = os.path.abspath(path)
    main = type(sys)("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__builtins__ = builtins
    main.__annotations__ = {}
    sys.modules["__main__"] = main
    with open(path, "rb") as fh:
        code = compile(fh.read(), path, "exec", dont_inherit=True)
    interrupted = []
    atexit.register(_end_as_interrupted, interrupted)  # the last handler to run
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as error:  # what Python does with an error no code caught
        assert error.__traceback__ is not None
        error = error.with_traceback(error.__traceback__.tb_next)  # from the file's frame on
        sys.excepthook(type(error), error, error.__traceback__)
        interrupted.append(isinstance(error, KeyboardInterrupt))
        raise SystemExit(1) from None


def _end_as_interrupted(interrupted: list[bool]) -> None:
    """After an uncaught ``KeyboardInterrupt``, Python ends by SIGINT once it has shut down."""
    if any(interrupted):
        import signal

        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def end(code: object) -> None:
    """End as Python ends after ``sys.exit(code)``, less the teardown of modules.

    Python first prints a non-integer code and takes 1, then waits for the threads that are
    not daemons, runs the ``atexit`` handlers and flushes the standard streams (120 if that
    fails). Tearing down the modules afterwards would touch every object the server loaded,
    which copies each page the child shares with it: two thirds of a small command's page
    faults and 15 ms of system time each. Nothing a command shows depends on it, as
    ``test_forkserver`` checks against exec."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # what Python does when the flush at its end fails
            code = 120
    os._exit(code & 0xFF)


if __name__ == "__main__":
    MODE = sys.argv[1]
    become(serve())
    del serve, become
    try:
        if MODE == "-m":
            import runpy

            runpy.run_module("incr.cli", run_name="__main__", alter_sys=True)
        else:
            run_script(sys.argv[0])
    except SystemExit as stop:
        end(stop.code)
    end(0)
