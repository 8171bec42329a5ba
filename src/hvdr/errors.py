"""Every error hvdr raises on purpose, rooted at :class:`HvdrError`.

    HvdrError                       one-line, user-facing message; ``code`` is stable for scripts
    ├── ConfigError                 settings, files and flags that cannot be used as given
    │   └── CodecKeyError           a payload the configured codec keys cannot decrypt
    ├── TemporalUnavailable         the Temporal server cannot be reached or started
    ├── NotFound                    a named site, host, VM, plan or run does not exist
    ├── Conflict                    the request contradicts what is running or stored
    └── (hyperv.errors.HyperVError) the host driver's taxonomy, see ``hvdr.hyperv.errors``

The CLI prints ``error: <message>`` on one line and exits with ``exit_code``; it never shows a traceback
for an HvdrError. Messages never carry the credentials of a URL (``hvdr.display.mask_credentials``).
"""

from __future__ import annotations

from typing import ClassVar

from hvdr.display import mask_credentials


class HvdrError(Exception):
    """Base of every error hvdr raises on purpose."""

    code: ClassVar[str] = "hvdr_error"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        # A URL in a message never shows its password, whoever builds the message.
        message = mask_credentials(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HvdrError):
    """A setting, file or flag that cannot be used as given."""

    code = "config_error"
    exit_code = 2


class CodecKeyError(ConfigError):
    """A payload the configured codec keys cannot decrypt (an unknown key id, or the wrong key for its id)."""

    code = "codec_key_error"


class TemporalUnavailable(HvdrError):
    """The Temporal server cannot be reached or started."""

    code = "temporal_unavailable"
    exit_code = 3


class NotFound(HvdrError):
    """A named object (site, host, VM, plan, run) does not exist."""

    code = "not_found"
    exit_code = 4


class Conflict(HvdrError):
    """The request contradicts what is running or stored (a second failover of one VM, say)."""

    code = "conflict"
    exit_code = 5
