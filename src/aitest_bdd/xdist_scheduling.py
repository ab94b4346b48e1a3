"""pytest-xdist scheduling that keeps a test class on one worker and spreads everything else test by test.

A `@pytest.mark.session` class is one conversation, run in order; split across workers it would lose
its history.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling


class ClassScheduling(LoadScopeScheduling):
    """Each test class is one unit of work; each other test is its own."""

    def _split_scope(self, nodeid: str) -> str:
        path, *names = nodeid.split("::")
        if len(names) >= 2:
            return "::".join([path, *names[:-1]])
        return nodeid
