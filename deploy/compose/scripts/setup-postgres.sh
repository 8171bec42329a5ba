#!/bin/sh
# One-shot: create Temporal's two databases and bring their schemas up to the image's version.
set -eu
for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
    *) schema=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
  esac
  temporal-sql-tool --plugin postgres12 --ep temporal-db -p 5432 -u temporal --db "$db" create || true
  temporal-sql-tool --plugin postgres12 --ep temporal-db -p 5432 -u temporal --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep temporal-db -p 5432 -u temporal --db "$db" update-schema -d "$schema"
done
