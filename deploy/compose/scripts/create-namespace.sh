#!/bin/sh
# One-shot: the namespace hvdr runs in, with the search attributes its runs carry (hvdr.visibility).
set -eu
NS="${HVDR_NAMESPACE:-hvdr}"
temporal operator namespace describe --namespace "$NS" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$NS" --retention 30d
for name in HvdrKind HvdrSite HvdrVM HvdrPlan HvdrPhase; do
  temporal operator search-attribute create --namespace "$NS" --name "$name" --type Keyword || true
done
