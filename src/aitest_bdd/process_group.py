"""Run a command (a stdio MCP server, an agent's service), and end its whole process group once it or the client
is gone.

The SDK starts each stdio server in a process group of its own, but ends the group only when the
server outlives the grace period after its input closes: a server that exits on time leaves its own
child processes running. This script leads the group in the server's place and ends the group when
the server exits, so nothing the server started outlives it. It also ends the group when the client
process that started it dies (killed, or a crashed xdist worker), which nobody else would do for a
server that ignores the end of its input. A process that leaves the group (a daemon that calls setsid)
is out of reach, as it is for the SDK. POSIX only; it needs only the standard library, so it runs as
``python -I -S process_group.py CLIENT_PID COMMAND [ARGS...]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

PARENT_POLL_SECONDS = 0.5


def led(command: list[str]) -> list[str]:
    """`command`, run through this script so that the processes it starts end with it, and it with this process.

    Start the result in a process group of its own. Windows ends them anyway, so there it is `command` itself.
    """
    if sys.platform == "win32":
        return command
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), *command]


def main(client: int, command: list[str]) -> None:
    try:
        server = subprocess.Popen(command)
    except OSError as error:
        print(f"cannot run {command[0]!r}: {error}", file=sys.stderr, flush=True)
        end(None)
        return
    threading.Thread(target=end_when_orphaned, args=(client, server), daemon=True).start()
    server.wait()
    end(server)


def end_when_orphaned(client: int, server: subprocess.Popen[bytes]) -> None:
    """End the group once `client` is no longer this process's parent: it died, and this process was adopted."""
    while os.getppid() == client:
        time.sleep(PARENT_POLL_SECONDS)
    end(server)


def end(server: subprocess.Popen[bytes] | None) -> None:
    """Kill the group this process leads, itself included; led by another process, kill only the server."""
    if os.getpgrp() == os.getpid():  # started as the leader of a group of its own, as the SDK starts servers
        os.killpg(0, signal.SIGKILL)
    elif server is not None:
        server.kill()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
