"""The estate report as one self-contained HTML page (inline CSS and SVG, nothing fetched) or JSON; user text is
escaped as in run reports (:func:`hvdr.report_render.esc`)."""

from __future__ import annotations

from hvdr.estate import EstateReport, EstateVM
from hvdr.readiness import Finding, Severity
from hvdr.report_render import CSS, _colour, _seconds, _time, esc

FORMATS = ("html", "json")
READINESS_COLOURS = {"ready": "succeeded", "warnings": "undone", "not ready": "failed", "not checked": "skipped"}
"""Readiness → the run report's outcome colour it borrows (green, orange, red, grey)."""
CHART_W, CHART_H, PAD = 300, 64, 4

ESTATE_CSS = """
svg.rpo-chart{background:#fafafa;border:1px solid #e0e0e0}
ul.findings{margin:0;padding-left:16px}
ul.findings li.error{color:#c62828}
td.chart{width:310px}
"""


def render_estate(report: EstateReport, fmt: str) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "html":
        return estate_page(report)
    raise ValueError(f"unknown estate report format {fmt!r}: one of {', '.join(FORMATS)}")


def rpo_chart(vm: EstateVM) -> str:
    """The VM's RPO over time (host time): a line through each measured peak, a dashed line at the policy's
    alert threshold, the highest value on the axis."""
    points = vm.rpo_history
    if not points:
        source = "" if vm.rpo_history_from == "none" else f" (looked in the {vm.rpo_history_from})"
        return f'<div class="msg">no RPO measured yet{esc(source)}</div>'
    first, last = points[0].at, points[-1].at
    span = max((last - first).total_seconds(), 1.0)
    top = max([p.rpo_s for p in points] + ([vm.rpo_threshold_s] if vm.rpo_threshold_s else [])) * 1.1 or 1.0

    def x(index: int) -> float:
        return PAD + (points[index].at - first).total_seconds() / span * (CHART_W - 2 * PAD)

    def y(value: float) -> float:
        return CHART_H - PAD - value / top * (CHART_H - 2 * PAD)

    parts = [
        f'<svg class="rpo-chart" data-vm="{esc(vm.vm)}" xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" '
        f'height="{CHART_H}" role="img" aria-label="RPO history of {esc(vm.vm)}">'
    ]
    if vm.rpo_threshold_s:
        ty = y(vm.rpo_threshold_s)
        parts.append(
            f'<line class="threshold" x1="{PAD}" x2="{CHART_W - PAD}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#c62828" '
            f'stroke-dasharray="4 3"><title>alert threshold {vm.rpo_threshold_s} s</title></line>'
        )
    line = " ".join(f"{x(i):.1f},{y(p.rpo_s):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline class="rpo" points="{line}" fill="none" stroke="#1565c0" stroke-width="1.5"/>')
    for i, p in enumerate(points):
        over = vm.rpo_threshold_s is not None and p.rpo_s > vm.rpo_threshold_s
        parts.append(
            f'<circle class="rpo-point" cx="{x(i):.1f}" cy="{y(p.rpo_s):.1f}" r="2.2" '
            f'fill="{"#c62828" if over else "#1565c0"}"><title>{esc(_time(p.at))}: RPO {esc(_seconds(p.rpo_s))}'
            "</title></circle>"
        )
    parts.append(
        f'<text x="{CHART_W - PAD}" y="12" text-anchor="end" fill="#555" font-size="11">'
        f"max {esc(_seconds(max(p.rpo_s for p in points)))}</text></svg>"
    )
    hours = span / 3600
    parts.append(
        f'<div class="msg">{len(points)} point(s) over {hours:.1f} h of host time, from the {esc(vm.rpo_history_from)}'
        "</div>"
    )
    return "".join(parts)


def _findings(findings: list[Finding]) -> str:
    if not findings:
        return ""
    items = "".join(
        f'<li class="{esc(f.severity.value)}"><b>{esc(f.check)}</b> ({esc(f.subject)}): {esc(f.message)} — fix: '
        f"<code>{esc(f.fix)}</code></li>"
        for f in findings
    )
    return f'<ul class="findings">{items}</ul>'


def _row(vm: EstateVM) -> str:
    readiness = vm.readiness
    drill = "none recorded" if vm.last_drill is None else f"{_time(vm.last_drill.at)} (plan {vm.last_drill.plan})"
    health = " / ".join(x for x in (vm.replication_state, vm.health) if x) or "–"
    cells = [
        f"<td><b>{esc(vm.vm)}</b><br>{esc(vm.primary_host)} → {esc(vm.replica_host)}<br>{esc(vm.phase)}</td>",
        f'<td class="chart">{rpo_chart(vm)}</td>',
        f'<td class="num">{esc(_seconds(vm.rpo_s))}'
        + (f"<br>threshold {vm.rpo_threshold_s} s" if vm.rpo_threshold_s else "")
        + "</td>",
        f'<td data-health="{esc(vm.health or "")}">{esc(health)}'
        + "".join(f'<div class="msg">{esc(a)}</div>' for a in vm.open_alerts)
        + "</td>",
        f"<td>{esc(drill)}</td>",
        f'<td data-readiness="{esc(readiness)}"><span class="badge" '
        f'style="background:{_colour(READINESS_COLOURS[readiness])}">{esc(readiness)}</span>{_findings(vm.findings)}</td>',
    ]
    return f'<tr class="vm" data-vm="{esc(vm.vm)}">' + "".join(cells) + "</tr>"


def estate_page(report: EstateReport) -> str:
    ready = report.ready
    verdict = {True: "ready", False: "NOT READY", None: "not checked"}[ready]
    check = (
        f"check/{report.check_id} at {_time(report.checked_at)}: {verdict}"
        if report.check_id
        else f"not checked: {report.check_error or 'no readiness check ran'}"
    )
    errors = sum(f.severity is Severity.ERROR for v in report.vms for f in v.findings)
    summary = [
        ("generated", _time(report.generated_at)),
        ("VMs", str(len(report.vms))),
        ("readiness", check),
        ("VMs not ready", str(sum(v.readiness == "not ready" for v in report.vms))),
        ("errors about VMs", str(errors)),
    ]
    columns = (
        "VM",
        "RPO history (peak per 15 min, host time)",
        "RPO now",
        "health",
        "last successful drill",
        "readiness",
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hvdr estate report — {esc(_time(report.generated_at))}</title>",
        f"<style>{CSS}{ESTATE_CSS}</style></head><body>",
        "<h1>hvdr estate report</h1>",
        '<dl class="summary">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in summary) + "</dl>",
        "<h2>Protected VMs</h2>",
        "<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>",
        *(_row(vm) for vm in report.vms),
        "</table>",
    ]
    if not report.vms:
        out.append("<p>No VM is protected.</p>")
    out.append("<h2>Findings about the estate (hosts, plans)</h2>")
    out.append(_findings(report.estate_findings) or "<p>none</p>")
    out.append(
        "<footer>RPO: the host's clock minus the last replication, as the VM's primary host monitor measured it. "
        "Readiness: `hvdr check`'s findings about the VM and its hosts. Generated by hvdr.</footer></body></html>\n"
    )
    return "\n".join(out)
