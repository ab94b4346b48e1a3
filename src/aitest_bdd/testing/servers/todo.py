"""Example MCP server: an in-memory to-do list.

Besides tools that only answer, it has tools that ask the client during the call: `plan_task` asks the user how to
plan a task (elicitation), `summarise_tasks` asks the client's model for a summary (sampling), `export_targets`
asks for the client's roots, and `review_tasks` reports progress and logs a message per task.

Run it with ``python -m aitest_bdd.testing.servers.todo`` (stdio), or add
``--transport streamable-http --host 127.0.0.1 --port 8000`` to serve it at ``/mcp``.
The list lives in the server process and starts empty on every launch; task ids count from 1.
"""

# Without `from __future__ import annotations`: the SDK reads the tools' annotations, which name resolvers that are
# local to build_server.
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import mcp_types
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, ListRoots, Resolve, Sample
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import BaseModel, Field
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


class Plan(BaseModel):
    """What the user answers when asked how to plan a task."""

    priority: Literal["low", "normal", "high"] = Field(description="How urgent the task is.")
    due_in_days: int = Field(description="In how many days the task is due.")
    confirm: bool = Field(description="Whether to add the task.")


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

    def lines(self) -> str:
        """The tasks, one line each, for a model to read."""
        return "\n".join(f"- [{t['status']}] {t['title']} ({t['priority']})" for t in self.tasks.values()) or "(empty)"

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
        priority: Annotated[
            str, Field(description="One of: low, normal, high.", json_schema_extra={"enum": list(PRIORITIES)})
        ] = "normal",
    ) -> Task:
        """Add a task to the to-do list.

        Returns the new task with its integer id (use it with complete_task), title,
        priority (low, normal or high) and status ("open").
        """
        return todos.add(title, priority)

    def list_tasks(
        status: Annotated[str, Field(
                description="Which tasks to list: 'all' (default), 'open' or 'done'.",
                json_schema_extra={"enum": list(STATUS_FILTERS)},
            )] = "all",
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

    def ask_for_plan(title: str) -> Elicit[Plan]:
        return Elicit(f"How should the task {' '.join(title.split())!r} be planned? Choose its priority.", Plan)

    def plan_task(
        title: Annotated[str, Field(description="What needs to be done, e.g. 'Buy milk'.")],
        plan: Annotated[ElicitationResult[Plan], Resolve(ask_for_plan)],
    ) -> str:
        """Add a task after asking the user for its priority and due date, and for confirmation.

        Returns what was added, or that the user did not want the task.
        """
        if plan.action != "accept" or not plan.data.confirm:
            return f"The user did not confirm; no task was added ({plan.action})."
        task, days = todos.add(title, plan.data.priority), plan.data.due_in_days
        return f"Added task {task['id']} {task['title']!r}: {task['priority']} priority, due in {days} days."

    def ask_for_summary() -> Sample:
        text = f"Summarise this to-do list in one sentence:\n{todos.lines()}"
        message = mcp_types.SamplingMessage(role="user", content=mcp_types.TextContent(type="text", text=text))
        return Sample([message], max_tokens=200, system_prompt="You summarise to-do lists.")

    def summarise_tasks(reply: Annotated[mcp_types.CreateMessageResult, Resolve(ask_for_summary)]) -> str:
        """Summarise the to-do list in one sentence, written by the client's model.

        Returns the summary.
        """
        text = reply.content.text if isinstance(reply.content, mcp_types.TextContent) else ""
        return f"Summary: {text}"

    def ask_for_roots() -> ListRoots:
        return ListRoots()

    def export_targets(roots: Annotated[mcp_types.ListRootsResult, Resolve(ask_for_roots)]) -> str:
        """List the folders the client lets this server export the list to (its MCP roots).

        Returns one URI per line.
        """
        return "\n".join(str(root.uri) for root in roots.roots) or "The client offers no folders."

    async def review_tasks(ctx: Context) -> str:
        """Review every task, reporting progress as it goes.

        Returns how many tasks were reviewed and how many are still open.
        """
        tasks = list(todos.tasks.values())
        await ctx.report_progress(0, len(tasks), "starting the review")
        for number, task in enumerate(tasks, 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)  # logging is deprecated from 2026-07-28 on
                await ctx.info(f"reviewed task {task['id']}: {task['title']}", logger_name="todo.review")
            await ctx.report_progress(number, len(tasks), f"reviewed {task['title']!r}")
        still_open = sum(task["status"] == "open" for task in tasks)
        return f"Reviewed {len(tasks)} tasks; {still_open} still open."

    add_tools(
        server,
        add_task,
        list_tasks,
        complete_task,
        plan_task,
        summarise_tasks,
        export_targets,
        review_tasks,
        changing=[add_task, complete_task, plan_task],
    )
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
