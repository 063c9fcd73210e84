"""The fork server's program (see ``forkserver.py``), run with ``python -c``: import what
``incr/cli.py`` imports, then fork a child per request; a child becomes ``python -m incr.cli ARGS``.

Besides, it loads networkx and the modules named as its arguments, on purpose (see
``forkserver.py``), and then tells on its first line of output the top-level names of every
module it has loaded.
Requests come as ``marshal`` data (built in and always loaded), replies as lines of digits:
the child's pid when it starts, then its exit status when it ends.
Before forking it freezes what it has loaded out of the garbage collector's reach: a child
that collects would otherwise touch, and so copy, every page it shares with the server.
"""

import gc
import marshal  # built into the interpreter: always loaded
import os
import runpy  # ``python -m`` loads it too
import sys


def serve() -> dict:
    """Wait for requests; return one in a child, never in the server."""
    import incr
    import incr.cli  # what every command imports first, done once here

    del sys.modules["incr.cli"]  # ``python -m`` runs the file as ``__main__`` alone
    del incr.cli
    import networkx  # noqa: F401  loaded on purpose (see forkserver.py)

    for name in sys.argv[1:]:  # loaded on purpose too
        __import__(name)
    tops = sorted({name.partition(".")[0] for name in sys.modules})
    os.write(1, " ".join(tops).encode() + b"\n")
    gc.freeze()
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
        _, status = os.waitpid(pid, 0)
        os.write(1, b"%d\n" % os.waitstatus_to_exitcode(status))


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
    sys.path[0] = os.getcwd()  # what ``python -m`` puts first
    sys.argv = ["-m", *request["args"]]  # runpy puts the module's file first
    sys.orig_argv = [sys.executable, "-m", "incr.cli", *request["args"]]
    if "random" in sys.modules:
        sys.modules["random"].seed()  # a fresh process seeds it from the OS


if __name__ == "__main__":
    become(serve())
    del serve, become
    runpy.run_module("incr.cli", run_name="__main__", alter_sys=True)
