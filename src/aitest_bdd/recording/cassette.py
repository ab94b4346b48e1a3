"""Record a conversation's model and MCP traffic to a file, and replay it without network, key or server.

A recording is one JSON file per test (per Outline row), holding each agent session's tool list and,
in order, every model request and response, every tool call and its result, every judge call, and the MCP
prompts and resources the conversation used.
A `Cassette` is that file while a test runs; a `Player` serves one session's part of it, a `Writer` fills it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, Field

from ..config import ConfigError
from ..redaction import Redactor
from ..whole_files import write_file
from .files import Interaction, InteractionKind, RecordingFile, SessionRecording, UnusableRecording, read_recording


class RecordMode(StrEnum):
    """How recordings are used.

    auto: replay where a recording exists, else run live without recording.
    none: replay only; a missing recording is an error.
    once: record what has no recording, replay the rest.
    all: re-record everything live.
    live: neither read nor write recordings.
    """

    AUTO = "auto"
    NONE = "none"
    ONCE = "once"
    ALL = "all"
    LIVE = "live"


class RecordingMismatch(RuntimeError):
    """A request no longer fits the recording; the message holds a diff and the command to re-record."""


class Cassette:
    """A test's recording file: loaded for replay, or filled and saved while recording."""

    def __init__(self, path: Path, nodeid: str, mode: RecordMode, redactor: Redactor, plugin_version: str) -> None:
        self.path = path
        self.nodeid = nodeid
        self.mode = mode
        self.redactor = redactor
        self.existing = (
            self._load() if path.exists() and mode in (RecordMode.AUTO, RecordMode.NONE, RecordMode.ONCE) else None
        )
        if mode is RecordMode.NONE and self.existing is None:
            raise ConfigError(
                f"no recording at {path} and --aitest-record=none replays only: record it with "
                f"{self.rerecord_command('once')}"
            )
        self.replaying = self.existing is not None
        self.recording = not self.replaying and mode in (RecordMode.ONCE, RecordMode.ALL)
        self.new = RecordingFile(test=nodeid, plugin_version=plugin_version)

    def rerecord_command(self, mode: str = "all") -> str:
        return f"pytest '{self.nodeid}' --aitest-record={mode}"

    def problem(self, what: str) -> str:
        """A message that this recording `what` ("is not valid JSON ..."), with the command that records it anew."""
        return f"the recording {self.path} {what}. Re-record it with: {self.rerecord_command()}"

    def _load(self) -> RecordingFile:
        try:
            return read_recording(self.path)
        except UnusableRecording as error:
            raise ConfigError(self.problem(str(error))) from None

    def session(self, agent: str) -> SessionRecording | None:
        """The recorded session of `agent`, when replaying."""
        if self.existing is None:
            return None
        if agent not in self.existing.sessions:
            raise RecordingMismatch(
                f"the recording {self.path} has no session for agent {agent!r} "
                f"(it has: {', '.join(self.existing.sessions) or 'none'}). Re-record: {self.rerecord_command()}"
            )
        return self.existing.sessions[agent]

    def refuse_other_model(self, recorded: str, model: str) -> None:
        """Under `--aitest-record=none`, an error that the recording was made with model `recorded`, not `model`;
        other modes run such a session live and leave the recording as it is."""
        if self.mode is RecordMode.NONE:
            raise RecordingMismatch(
                f"the recording {self.path} was made with model {recorded!r}, this run asks for model {model!r}, "
                f"and --aitest-record=none replays only: drop the model override (--aitest-model, aitest_model) "
                f"to replay the recording, or run without --aitest-record=none to run {model!r} live; "
                "either way the recording stays as it is"
            )

    def start_recording(self, agent: str, model: str, api: str = "chat") -> SessionRecording:
        recording = self.new.sessions[agent] = SessionRecording(model=model, api=api)
        return recording

    def refuse_other_api(self, agent: str, recorded: str, api: str) -> None:
        """An error that the recording of `agent` was made on the model API `recorded`, and this run speaks `api`."""
        raise RecordingMismatch(
            f"the recording {self.path} of agent {agent!r} was made with Provider(api={recorded!r}), and this run "
            f"asks for Provider(api={api!r}): a recording replays only on the API that made it. Set "
            f"api={recorded!r} to replay it, or re-record it with: {self.rerecord_command()}"
        )

    def save(self) -> None:
        """Write the new recording (only when recording, and something was recorded: an interaction, or a turn of an
        agent that made no model call aitest-bdd could see)."""
        if not self.recording or not any(s.interactions or s.turn_durations_ms for s in self.new.sessions.values()):
            return
        self.new.models = sorted(
            {
                str(interaction.response.get("model", ""))
                for session in self.new.sessions.values()
                for interaction in session.interactions
                if interaction.kind in ("model", "judge", "user_model")
            }
            - {""}
        )
        data = self.new.model_dump(mode="json")
        data["sessions"] = self.redactor.data(data["sessions"])  # the traffic; the file's own metadata stays readable
        text = json.dumps(data, indent=2, ensure_ascii=False)
        write_file(self.path, text + "\n")  # whole or not at all: a half-written recording would break replay


class Player:
    """Serves one agent session's recorded interactions in order, checking each request."""

    def __init__(self, cassette: Cassette, recording: SessionRecording) -> None:
        self.cassette = cassette
        self.recording = recording
        self.position = 0

    def next(self, kind: InteractionKind, turn: int, request: dict[str, Any]) -> Interaction:
        """The next recorded interaction, which must be of `kind` and have the same request."""
        masked = self.cassette.redactor.data(request)
        if self.position >= len(self.recording.interactions):
            raise RecordingMismatch(
                f"the recording {self.cassette.path} has no more interactions, but turn {turn} makes a {_words(kind)} "
                f"request:\n{_pretty(masked)}\nRe-record it with: {self.cassette.rerecord_command()}"
            )
        recorded = self.recording.interactions[self.position]
        if recorded.kind != kind or recorded.request != masked:
            raise RecordingMismatch(
                f"the {_words(kind)} request of turn {turn} no longer matches the recording "
                f"({self.cassette.path}, interaction {self.position + 1}, a {_words(recorded.kind)} request of turn "
                f"{recorded.turn}):\n{diff(recorded.request, masked)}\n"
                f"Re-record it with: {self.cassette.rerecord_command()}"
            )
        self.position += 1
        return recorded


class Writer:
    """Appends one agent session's interactions to the cassette being recorded."""

    def __init__(self, cassette: Cassette, recording: SessionRecording) -> None:
        self.cassette = cassette
        self.recording = recording

    def add(
        self,
        kind: InteractionKind,
        turn: int,
        request: dict,
        response: dict,
    ) -> None:
        self.recording.interactions.append(Interaction(kind=kind, turn=turn, request=request, response=response))

    def add_duration(self, turn: int, duration_ms: float) -> None:
        """Keep how long turn `turn` took live, for time budgets judged on replay."""
        self.recording.turn_durations_ms[turn] = duration_ms


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def diff(recorded: Any, now: Any) -> str:
    """A unified diff of two JSON values, recorded first."""
    lines = difflib.unified_diff(
        _pretty(recorded).splitlines(), _pretty(now).splitlines(), "recorded", "now", lineterm="", n=2
    )
    return "\n".join(lines)


class RecordSettings(BaseModel):
    """How this run uses recordings, and where they live."""

    mode: RecordMode = RecordMode.AUTO
    directory: Path | None = None
    masks: list[str] = Field(default_factory=list)
    real_tools: bool = False
    plugin_version: str = ""

    def path_for(self, test_path: Path, name: str, nodeid: str) -> Path:
        """`recordings/<file stem>/<name>.json` beside the test file; or, in the configured directory,
        `<test file's path from the root directory, without its suffix>/<name>.json`, one file per test."""
        if self.directory is None:
            folder = test_path.parent / "recordings" / test_path.stem
        else:
            test_file = PurePosixPath(nodeid.split("::", 1)[0]).with_suffix("")
            folder = self.directory.joinpath(*(part for part in test_file.parts if part not in ("/", "..")))
        return folder / file_name(name)

    def cassette(self, test_path: Path, name: str, nodeid: str, redactor: Redactor) -> Cassette | None:
        """The cassette of one test or session, or None when recordings are off; `redactor` masks what it stores."""
        if self.mode is RecordMode.LIVE:
            return None
        return Cassette(self.path_for(test_path, name, nodeid), nodeid, self.mode, redactor, self.plugin_version)


def file_name(name: str) -> str:
    """`<name>.json` made safe for a file system; a name too long for one is cut and made unique by its hash."""
    safe = _SAFE.sub("_", name).strip("_") or "recording"
    if len(f"{safe}.json".encode()) <= _MAX_FILE_NAME_BYTES:
        return f"{safe}.json"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{safe.encode()[:100].decode(errors='ignore')}-{digest}.json"


_SAFE = re.compile(r"[^\w.\-\[\]@]+")
_MAX_FILE_NAME_BYTES = 255
"""The longest file name, in bytes, that common file systems take."""


def _words(kind: str) -> str:
    """An interaction kind as a message says it: `user_model` is the user model."""
    return kind.replace("_", " ")
