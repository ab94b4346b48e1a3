"""pytest-xdist scheduling that keeps a test class on one worker and spreads everything else test by test.

A `@pytest.mark.session` class is one conversation, run in order; split across workers it would lose
its history. Agent tests are long and mostly wait on the model, so a worker starts on tests as soon as it
has collected, not once every worker has: on a busy machine the first workers are ready seconds before
the last ones.

Under `--dist loadgroup` a unit is also an `xdist_group`: a group and every class one of its tests belongs
to run as one unit, so a group never splits a class. `--dist worksteal` gets this scheduling too: a worker
holds only a few tests at a time, so the idle ones get the rest without stealing part of a class.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from xdist.remote import Producer
from xdist.report import report_collection_diff
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

# Tests a worker holds: the one it runs, the next (a worker runs a test only once it knows the next one),
# and one more to cover the round trip to the controller.
QUEUED_PER_WORKER = 3
MODES = frozenset({"load", "loadgroup", "worksteal"})
"""The `--dist` modes this scheduling replaces; `loadscope`, `loadfile` and `each` keep a class together already."""


class ClassScheduling(LoadScopeScheduling):
    """Each test class is one unit of work, with the tests that share an xdist_group with it; each other test is
    its own."""

    def __init__(self, config: pytest.Config, log: Producer | None = None) -> None:
        super().__init__(config, log)
        self._settled: set[WorkerController] = set()
        self._first_worker = ""
        self._unit_of: dict[str, str] = {}

    @property
    def collection_is_completed(self) -> bool:
        """True once any worker has collected: it can start while the others are still starting."""
        return self.collection is not None

    @property
    def tests_finished(self) -> bool:
        """Done once every test has run and every worker's collection has been checked (or the worker is gone)."""
        return len(self._settled) >= self.numnodes and super().tests_finished

    def add_node_collection(self, node: WorkerController, collection: Sequence[str]) -> None:
        """Take a worker's collection; one that differs from the first fails the run and gets no tests."""
        collection = list(collection)
        self._settled.add(node)
        if self.collection is None:
            self._first_worker = node.gateway.id
            self._queue_work(collection)
        elif collection != self.collection:
            message = report_collection_diff(self.collection, collection, self._first_worker, node.gateway.id)
            self.log(message)
            report = pytest.CollectReport(nodeid=node.gateway.id, outcome="failed", longrepr=message, result=[])
            self.config.hook.pytest_collectreport(report=report)
            node.shutdown()
            return
        self.registered_collections[node] = collection

    def _queue_work(self, collection: list[str]) -> None:
        """The work queue, from the first collection: test classes first (largest first), then single tests."""
        self.collection = collection
        self._unit_of = work_units(collection)
        units: dict[str, dict[str, bool]] = {}
        for nodeid in collection:
            units.setdefault(self._unit_of[nodeid], {})[nodeid] = False
        ordered = sorted(units.items(), key=lambda unit: -len(unit[1]))
        self.workqueue.update(ordered if self.config.option.loadscopereorder else units.items())

    def schedule(self) -> None:
        """Feed every worker that has collected."""
        for node in [node for node in self.registered_collections if node in self.assigned_work]:
            self._reschedule(node)

    def _reschedule(self, node: WorkerController) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        while self.workqueue and self._pending_of(self.assigned_work[node]) < QUEUED_PER_WORKER:
            self._assign_work_unit(node)

    def _split_scope(self, nodeid: str) -> str:
        return self._unit_of[nodeid]

    def remove_node(self, node: WorkerController) -> str | None:
        """Give a crashed worker's unfinished tests to the others, except the one that was running.

        (Requeueing that one too would crash worker after worker.)
        """
        workload = self.assigned_work.pop(node)
        self.registered_collections.pop(node, None)
        self._settled.add(node)
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
        for other in self.registered_collections:
            self._reschedule(other)
        return crashed


def work_units(collection: list[str]) -> dict[str, str]:
    """The unit of work of each test: its class (or itself), joined with every unit that shares an xdist_group.

    Under `--dist loadgroup`, xdist adds a test's groups to its id after the last `@`: `test_a.py::TestA::test_b@db`.
    """
    parent: dict[str, str] = {}

    def root(unit: str) -> str:
        while parent.setdefault(unit, unit) != unit:
            unit = parent[unit]
        return unit

    own: dict[str, str] = {}
    for nodeid in collection:
        test, group = nodeid.rsplit("@", 1) if nodeid.rfind("@") > nodeid.rfind("]") else (nodeid, "")
        path, *names = test.split("::")
        own[nodeid] = "::".join([path, *names[:-1]]) if len(names) >= 2 else nodeid
        if group:
            parent[root(own[nodeid])] = root(f"@{group}")
    return {nodeid: root(unit) for nodeid, unit in own.items()}
