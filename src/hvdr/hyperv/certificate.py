"""The expiry of the TLS certificate a host's WinRM HTTPS listener presents (``hvdr check`` warns before it lapses)."""

from __future__ import annotations

import socket
import ssl
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509

from hvdr.hyperv.errors import HostUnreachable


def certificate_not_after(url: str, *, host: str, timeout_s: float = 10.0) -> datetime | None:
    """The certificate's notAfter (UTC) for an ``https://`` URL; None for ``http://`` (no certificate).

    The handshake does not validate: it must read an expired or soon-expired certificate too, and nothing is sent
    over it (the driver's own connections always validate).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or parts.hostname is None:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((parts.hostname, parts.port or 5986), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise HostUnreachable(f"cannot read the WinRM certificate at {url}: {exc}", host=host) from None
    if der is None:
        raise HostUnreachable(f"the WinRM listener at {url} presented no certificate", host=host)
    return x509.load_der_x509_certificate(der).not_valid_after_utc
