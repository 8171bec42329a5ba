"""How hvdr runs show up in the Temporal web UI: search attributes, summaries, run kinds.

Every run carries ``HvdrKind`` and, where they apply, ``HvdrSite``, ``HvdrVM``, ``HvdrPlan`` and
``HvdrPhase`` (all Keyword), so the UI and ``temporal workflow list -q "HvdrVM='db-01'"`` find them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

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


def search_attributes(
    kind: str,
    *,
    site: str | None = None,
    vm: str | None = None,
    plan: str | None = None,
    phase: str | None = None,
) -> TypedSearchAttributes:
    """The search attributes a run starts with."""
    pairs = [SearchAttributePair(HVDR_KIND, kind)]
    for key, value in ((HVDR_SITE, site), (HVDR_VM, vm), (HVDR_PLAN, plan), (HVDR_PHASE, phase)):
        if value is not None:
            pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)
