"""Run a stdio MCP server's command, and end its whole process group once the server exits.

The SDK starts each stdio server in a process group of its own, but ends the group only when the
server outlives the grace period after its input closes: a server that exits on time leaves its own
child processes running. This script leads the group in the server's place and ends the group when
the server exits, so nothing the server started outlives it. A process that leaves the group (a
daemon that calls setsid) is out of reach, as it is for the SDK. POSIX only; it needs only the
standard library, so it runs as ``python -I -S process_group.py COMMAND [ARGS...]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(command: list[str]) -> None:
    try:
        subprocess.call(command)
    except OSError as error:
        print(f"cannot run {command[0]!r}: {error}", file=sys.stderr, flush=True)
    if os.getpgrp() == os.getpid():  # started as the leader of a group of its own, as the SDK starts servers
        os.killpg(0, signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1:])
