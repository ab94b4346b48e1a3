"""pytest-xdist scheduling that keeps a test class on one worker and spreads everything else test by test.

A `@pytest.mark.session` class is one conversation, run in order; split across workers it would lose
its history.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController


class ClassScheduling(LoadScopeScheduling):
    """Each test class is one unit of work; each other test is its own."""

    def _split_scope(self, nodeid: str) -> str:
        path, *names = nodeid.split("::")
        if len(names) >= 2:
            return "::".join([path, *names[:-1]])
        return nodeid

    def remove_node(self, node: WorkerController) -> str | None:
        """Give a crashed worker's unfinished tests to the others, except the one that was running.

        (Requeueing that one too would crash worker after worker.)
        """
        workload = self.assigned_work.pop(node)
        unfinished = [
            (scope, [nodeid for nodeid, done in unit.items() if not done]) for scope, unit in workload.items()
        ]
        unfinished = [(scope, nodeids) for scope, nodeids in unfinished if nodeids]
        if not unfinished:
            return None
        crashed = unfinished[0][1][0]
        for scope, nodeids in unfinished:
            remaining = {nodeid: False for nodeid in nodeids if nodeid != crashed}
            if remaining:
                self.workqueue[scope] = remaining
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed
