"""The public surface is deliberate: ``__all__`` lists exactly the public names, sorted."""

from __future__ import annotations

import hvdr


def test_all_lists_the_public_names_sorted() -> None:
    public = {name for name in dir(hvdr) if not name.startswith("_") and not _is_submodule(name)}
    assert set(hvdr.__all__) == public
    assert hvdr.__all__ == sorted(hvdr.__all__)


def _is_submodule(name: str) -> bool:
    return type(getattr(hvdr, name)).__name__ == "module"
