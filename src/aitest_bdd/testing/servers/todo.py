"""Example MCP server: an in-memory to-do list.

Run it with ``python -m aitest_bdd.testing.servers.todo`` (stdio), or add
``--transport streamable-http --host 127.0.0.1 --port 8000`` to serve it at ``/mcp``.
The list lives in the server process and starts empty on every launch; task ids count from 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from aitest_bdd.testing.servers._cli import add_tools, run_cli

PRIORITIES = ("low", "normal", "high")
STATUS_FILTERS = ("all", "open", "done")


class Task(TypedDict):
    id: int
    title: str
    priority: str
    status: str


class TaskList(TypedDict):
    status: str
    count: int
    tasks: list[Task]


def _choice(value: str, choices: tuple[str, ...], what: str) -> str:
    normalized = value.strip().lower()
    if normalized not in choices:
        raise ToolError(f"Invalid {what} {value!r}. Valid values: {', '.join(choices)}.")
    return normalized


@dataclass
class TodoList:
    """The in-memory state of one server process."""

    tasks: dict[int, Task] = field(default_factory=dict)
    next_id: int = 1

    def add(self, title: str, priority: str) -> Task:
        title = " ".join(title.split())
        if not title:
            raise ToolError("The task title is empty; give the task a short description.")
        task = Task(id=self.next_id, title=title, priority=_choice(priority, PRIORITIES, "priority"), status="open")
        self.tasks[task["id"]] = task
        self.next_id += 1
        return Task(**task)

    def select(self, status: str) -> TaskList:
        status = _choice(status, STATUS_FILTERS, "status")
        tasks = [Task(**t) for t in self.tasks.values() if status in ("all", t["status"])]
        return TaskList(status=status, count=len(tasks), tasks=tasks)

    def complete(self, task_id: int) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            valid = ", ".join(str(i) for i in self.tasks) or "none (the list is empty)"
            raise ToolError(f"Unknown task id {task_id}. Existing task ids: {valid}.")
        task["status"] = "done"
        return Task(**task)


def build_server() -> MCPServer:
    """Create a to-do server with an empty list."""
    todos = TodoList()
    server = MCPServer(
        "todo",
        instructions="A to-do list: add tasks with a priority, list them by status, and mark them done.",
    )

    def add_task(
        title: Annotated[str, Field(description="What needs to be done, e.g. 'Buy milk'.")],
        priority: Annotated[str, Field(description="One of: low, normal, high.")] = "normal",
    ) -> Task:
        """Add a task to the to-do list.

        Returns the new task with its integer id (use it with complete_task), title,
        priority (low, normal or high) and status ("open").
        """
        return todos.add(title, priority)

    def list_tasks(
        status: Annotated[str, Field(description="Which tasks to list: 'all' (default), 'open' or 'done'.")] = "all",
    ) -> TaskList:
        """List the tasks on the to-do list, oldest first.

        Returns the status filter used, the number of matching tasks and the tasks themselves,
        each with its id, title, priority and status ("open" or "done").
        """
        return todos.select(status)

    def complete_task(
        task_id: Annotated[int, Field(description="The id of the task, as returned by add_task or list_tasks.")],
    ) -> Task:
        """Mark a task as done.

        Returns the task with status "done". Completing a task that is already done changes nothing.
        """
        return todos.complete(task_id)

    add_tools(server, add_task, list_tasks, complete_task)
    return server


def main(argv: Sequence[str] | None = None) -> None:
    run_cli(
        build_server,
        prog="python -m aitest_bdd.testing.servers.todo",
        description="Example MCP server: an in-memory to-do list.",
        argv=argv,
    )


if __name__ == "__main__":
    main()
