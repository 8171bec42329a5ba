"""Shells and commands kept per host; a command's script runs in a worker thread.

The thread appends output as the script produces it and wakes the event loop, so a Receive answers
``Running`` with what there is, ``Done`` with the exit code at the end, or an OperationTimeout fault when
nothing happened within the request's ``w:OperationTimeout``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import Executor

from hvdr.lab.powershell import CommandLineError, decode_command_line, run_script
from hvdr.lab.seam import PSHost
from hvdr.lab.wsman.responses import ReceiveChunk, new_uuid

# One Receive answer carries at most this much output (a real service splits at MaxEnvelopeSize).
MAX_CHUNK = 96 * 1024


def encode_output(text: str, codepage: int) -> bytes:
    """What the console writes for ``text`` under the shell's code page (65001 = UTF-8)."""
    if codepage == 65001:
        return text.encode("utf-8")
    try:
        return text.encode(f"cp{codepage}", errors="replace")
    except LookupError:
        return text.encode("cp437", errors="replace")


class LabCommand:
    def __init__(self, loop: asyncio.AbstractEventLoop, codepage: int) -> None:
        self.id = str(new_uuid()).upper()
        self.codepage = codepage
        self.cancelled = threading.Event()
        self._loop = loop
        self._lock = threading.Lock()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._done = False
        self._exit_code: int | None = None
        self._watchers = 0
        self.changed = asyncio.Event()

    def watch(self) -> None:
        """A Receive starts waiting on this command: from now on, output and the end wake the event loop.

        Call before reading (:meth:`take`); without a watcher the worker thread does not wake the loop at
        all (a script that ends before its Receive arrives, the usual case, costs no cross-thread call)."""
        with self._lock:
            self._watchers += 1

    def unwatch(self) -> None:
        with self._lock:
            self._watchers -= 1

    def _notify(self) -> None:
        self._loop.call_soon_threadsafe(self.changed.set)

    def write_stdout(self, text: str) -> None:
        with self._lock:
            self._stdout += encode_output(text, self.codepage)
            watched = self._watchers > 0
        if watched:
            self._notify()

    def finish(self, exit_code: int, stderr: str) -> None:
        with self._lock:
            self._stderr += encode_output(stderr, self.codepage)
            self._exit_code = exit_code
            self._done = True
            watched = self._watchers > 0
        if watched:
            self._notify()

    @property
    def done(self) -> bool:
        return self._done

    def has_output(self) -> bool:
        return bool(self._stdout or self._stderr)

    async def wait_done(self) -> None:
        while not self._done:
            self.changed.clear()
            if self._done:
                return
            await self.changed.wait()

    def take(self) -> ReceiveChunk | None:
        """The output not yet received (None when there is none and the command still runs)."""
        with self._lock:
            stdout = bytes(self._stdout[:MAX_CHUNK])
            del self._stdout[:MAX_CHUNK]
            stderr = bytes(self._stderr[: MAX_CHUNK - len(stdout)])
            del self._stderr[: len(stderr)]
            done = self._done and not self._stdout and not self._stderr
            if not stdout and not stderr and not done:
                return None
            return ReceiveChunk(stdout, stderr, done, self._exit_code if done else None)

    def run(self, host: PSHost, command: str, arguments: str, skip_cmd_shell: bool) -> None:
        """Body of the worker thread."""
        try:
            script = decode_command_line(command, arguments, skip_cmd_shell=skip_cmd_shell)
        except CommandLineError as error:
            self.finish(error.exit_code, error.stderr)
            return
        try:
            result = run_script(host, script, write_stdout=self.write_stdout, cancelled=self.cancelled)
        except Exception as exc:  # never leave a Receive waiting forever on a lab bug
            self.finish(1, f"lab internal error: {type(exc).__name__}: {exc}\r\n")
            return
        self.finish(result.exit_code, result.stderr)


class LabShell:
    def __init__(self, codepage: int) -> None:
        self.id = str(uuid.uuid4()).upper()
        self.codepage = codepage
        self.commands: dict[str, LabCommand] = {}
        self.last_used = time.monotonic()


class HostShells:
    """Every open shell of one host."""

    def __init__(self, host: PSHost, executor: Executor) -> None:
        self.host = host
        self.executor = executor
        self.shells: dict[str, LabShell] = {}

    def create(self, codepage: int) -> LabShell:
        shell = LabShell(codepage)
        self.shells[shell.id] = shell
        return shell

    def get(self, shell_id: str | None) -> LabShell | None:
        shell = self.shells.get((shell_id or "").upper())
        if shell is not None:
            shell.last_used = time.monotonic()
        return shell

    def new_command(self, shell: LabShell) -> LabCommand:
        """A command registered in its shell, not started yet (see :meth:`run`)."""
        cmd = LabCommand(asyncio.get_running_loop(), shell.codepage)
        shell.commands[cmd.id] = cmd
        return cmd

    def run(self, cmd: LabCommand, command: str, arguments: str, skip_cmd_shell: bool) -> None:
        """Run the command's script in a worker thread."""
        self.executor.submit(cmd.run, self.host, command, arguments, skip_cmd_shell)

    def start_command(self, shell: LabShell, command: str, arguments: str, skip_cmd_shell: bool) -> LabCommand:
        cmd = self.new_command(shell)
        self.run(cmd, command, arguments, skip_cmd_shell)
        return cmd

    def delete(self, shell_id: str) -> bool:
        shell = self.shells.pop(shell_id.upper(), None)
        if shell is None:
            return False
        for cmd in shell.commands.values():
            cmd.cancelled.set()
        return True

    def expire(self, idle_s: float) -> None:
        """Drop shells idle for longer than ``idle_s`` (the WinRM service's IdleTimeout)."""
        cutoff = time.monotonic() - idle_s
        for shell_id in [sid for sid, shell in self.shells.items() if shell.last_used < cutoff]:
            self.delete(shell_id)

    def close(self) -> None:
        for shell_id in list(self.shells):
            self.delete(shell_id)
