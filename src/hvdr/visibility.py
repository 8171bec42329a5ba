"""How hvdr runs show up in the Temporal web UI: search attributes, summaries, run kinds.

Every run carries ``HvdrKind`` and, where they apply, ``HvdrSite``, ``HvdrVM``, ``HvdrPlan`` and
``HvdrPhase`` (all Keyword), so the UI and ``temporal workflow list -q "HvdrVM='db-01'"`` find them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from hvdr.errors import ConfigError

HVDR_SITE = SearchAttributeKey.for_keyword("HvdrSite")
HVDR_VM = SearchAttributeKey.for_keyword("HvdrVM")
HVDR_PLAN = SearchAttributeKey.for_keyword("HvdrPlan")
HVDR_PHASE = SearchAttributeKey.for_keyword("HvdrPhase")
HVDR_KIND = SearchAttributeKey.for_keyword("HvdrKind")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    HVDR_SITE,
    HVDR_VM,
    HVDR_PLAN,
    HVDR_PHASE,
    HVDR_KIND,
)


KINDS = (
    "check",
    "discovery",
    "drill",
    "failback",
    "failover",
    "monitor",
    "ping",
    "plan",
    "plan-dry-run",
    "protection",
    "reverse",
    "testfailover",
)
"""Every ``HvdrKind`` a run is started with (``hvdr runs --kind``, ``hvdr reports --kind``)."""


def check_kind(kind: str) -> str:
    """``kind`` when runs are started with it; else a one-line error listing the kinds there are."""
    if kind not in KINDS:
        raise ConfigError(f"unknown run kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def search_attributes(
    kind: str,
    *,
    site: str | None = None,
    vm: str | None = None,
    plan: str | None = None,
    phase: str | None = None,
) -> TypedSearchAttributes:
    """The search attributes a run starts with."""
    pairs = [SearchAttributePair(HVDR_KIND, check_kind(kind))]
    for key, value in ((HVDR_SITE, site), (HVDR_VM, vm), (HVDR_PLAN, plan), (HVDR_PHASE, phase)):
        if value is not None:
            pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)
