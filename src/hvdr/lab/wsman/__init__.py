"""The lab's WS-Management wire: request parsing, response building, shells, and the per-host server."""

from hvdr.lab.wsman.server import WinRMServer

__all__ = ["WinRMServer"]
