"""A run report as an admin reads it: one self-contained HTML page (inline CSS and SVG, nothing fetched, so it
opens offline and can be mailed or archived), Markdown, or JSON.

All user text — VM and host names, host messages, errors, identities — is escaped for the format (HTML
entities; Markdown's own characters), after :func:`hvdr.display.shown` has escaped control characters and
masked URL credentials: a VM named ``<script>…`` is shown, never run.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime

from hvdr.display import shown
from hvdr.report import ReportStep, RunReport, VMTimeline

FORMATS = ("html", "md", "json")

COLOURS: dict[str, str] = {
    "done": "#2e7d32",
    "succeeded": "#2e7d32",
    "rolled_back": "#ef6c00",
    "approved": "#2e7d32",
    "failed": "#c62828",
    "rejected": "#c62828",
    "timed_out": "#c62828",
    "undone": "#ef6c00",
    "running": "#1565c0",
    "waiting": "#1565c0",
    "skipped": "#9e9e9e",
}
OTHER_COLOUR = "#6a1b9a"
LEGEND: tuple[tuple[str, str], ...] = (
    ("done", "done"),
    ("failed", "failed / rejected / timed out"),
    ("undone", "undone by compensation"),
    ("running", "running / waiting"),
    ("skipped", "skipped"),
)
RTO_LEGEND = "black line under a lane: the VM's RTO window (down → verified)"

RTO_DEFINITION = (
    "RTO of a VM: from its service going down (guest shutdown; for an unplanned failover, the failure) to the end of "
    "verify at the recovery site. RTO of the run: from its first step to the last VM verified."
)


def render(report: RunReport, fmt: str) -> str:
    """The report in a format of ``FORMATS``."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "md":
        return markdown(report)
    if fmt == "html":
        return page(report)
    raise ValueError(f"unknown report format {fmt!r}: one of {', '.join(FORMATS)}")


# -- shared wording ---------------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _time(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _rto(report: RunReport, wall: float | None) -> str:
    """An RTO as wall seconds, with its host-time equivalent when the hosts' clock ran faster."""
    if wall is None:
        return "not recovered"
    if report.time_scale == 1:
        return _seconds(wall)
    return f"{_seconds(report.host_seconds(wall))} host time ({_seconds(wall)} wall at {report.time_scale:g}×)"


def _target(report: RunReport) -> str:
    if report.rto_target_s is None:
        return "no target (no plan declares one for this run)"
    source = f" ({report.rto_target_from})" if report.rto_target_from else ""
    verdict = {True: "met", False: "MISSED", None: "not measured yet"}[report.met_target]
    if report.met_target is False and report.rto_s is None:
        verdict = "MISSED (not every VM was recovered)"
    return f"{_seconds(float(report.rto_target_s))}{source}: {verdict}"


def _data_loss(vm: VMTimeline) -> str:
    loss = vm.data_loss
    if loss is None:
        return "unknown"
    figure = "none" if loss.lost_s == 0 else ("unknown" if loss.lost_s is None else _seconds(loss.lost_s))
    return figure


def _proof(vm: VMTimeline) -> str:
    """How the data loss was established, with the checksum comparison when there is one."""
    loss = vm.data_loss
    if loss is None:
        return "not established for this kind of run"
    text = loss.basis
    if loss.recovery_point_at is not None and loss.failure_at is not None:
        text += f"; recovery point {_time(loss.recovery_point_at)}, failure {_time(loss.failure_at)}"
    proof = loss.checksums
    if proof is not None:
        same = "equal" if proof.equal else "DIFFERENT"
        lost = "" if proof.blocks_lost is None else f", {proof.blocks_lost} blocks lost"
        text += (
            f". Measured: disk checksums {same} (source {proof.source_checksum[:16]}, replica "
            f"{proof.replica_checksum[:16]}{lost}; {proof.measured_by})"
        )
    else:
        text += ". No disk checksums measured (hosts do not report them; the lab does)"
    return text


def _step_rows(report: RunReport) -> list[tuple[str, ReportStep]]:
    rows = [(vm.vm, step) for vm in report.vms for step in vm.steps]
    rows += [("plan", step) for step in report.actions]
    return rows


VM_COLUMNS = ("VM", "from → to", "now runs on", "outcome", "RTO", "data lost")
STEP_COLUMNS = ("VM", "step", "outcome", "start", "end", "seconds", "message")


def _vm_cells(report: RunReport, vm: VMTimeline) -> list[str]:
    return [
        vm.vm,
        f"{vm.source or '–'} → {vm.target or '–'}",
        vm.now_runs_on or "–",
        vm.outcome,
        _rto(report, vm.rto_s),
        _data_loss(vm),
    ]


def _step_cells(report: RunReport, lane: str, step: ReportStep) -> list[str]:
    seconds = "–" if step.seconds is None else f"{step.seconds:.2f}"
    started, ended = _offset(report, step.started_at), _offset(report, step.ended_at)
    return [lane, step.name, step.outcome, started, ended, seconds, step.message]


def _offset(report: RunReport, at: datetime | None) -> str:
    if at is None or report.started_at is None:
        return "–"
    return f"+{(at - report.started_at).total_seconds():.1f} s"


# -- Markdown ---------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md(value: object) -> str:
    """User text for a Markdown table cell or line: no HTML, no Markdown syntax, one line."""
    text = html.escape(shown(value), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_row(cells: list[str] | tuple[str, ...]) -> str:
    return "| " + " | ".join(md(c) for c in cells) + " |"


def markdown(report: RunReport) -> str:
    lines = [
        f"# hvdr report: {md(report.title)}",
        "",
        "| | |",
        "| --- | --- |",
        f"| run | {md(report.run_id)} |",
        f"| kind | {md(report.kind)} {md(report.operation)} |",
    ]
    if report.plan:
        lines.append(f"| plan | {md(report.plan)} |")
    lines += [
        f"| started by | {md(report.started_by or 'unknown')} |",
        f"| status / outcome | {md(report.status)} / **{md(report.outcome)}** |",
        f"| started | {_time(report.started_at)} |",
        f"| ended | {_time(report.ended_at)} |",
        f"| RTO of the run | {md(_rto(report, report.rto_s))} |",
        f"| RTO target | {md(_target(report))} |",
    ]
    if report.error:
        lines.append(f"| error | {md(report.error)} |")
    lines += ["", "## VMs", "", _md_row(VM_COLUMNS), _md_row(["---"] * len(VM_COLUMNS))]
    lines += [_md_row(_vm_cells(report, vm)) for vm in report.vms]
    lines += ["", "## Steps", "", _md_row(STEP_COLUMNS), _md_row(["---"] * len(STEP_COLUMNS))]
    lines += [_md_row(_step_cells(report, lane, step)) for lane, step in _step_rows(report)]
    compensation = [(vm.vm, line) for vm in report.vms for line in vm.compensation]
    lines += ["", "## Compensation", ""]
    lines += [f"- {md(vm)}: {md(line)}" for vm, line in compensation] or ["- nothing was undone"]
    lines += ["", "## Approvals", ""]
    lines += [
        f"- {md(a.step)}: {md(a.decision)} by {md(a.by or 'nobody')} at {_time(a.at)}"
        + (f" — {md(a.comment)}" if a.comment else "")
        for a in report.approvals
    ] or ["- no manual step in this run"]
    lines += ["", "## Data loss", ""]
    lines += [f"- {md(vm.vm)}: **{md(_data_loss(vm))}** — {md(_proof(vm))}" for vm in report.vms]
    lines += ["", f"_{md(RTO_DEFINITION)} Generated {_time(report.generated_at)} by hvdr._", ""]
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------------------------


def esc(value: object) -> str:
    """User text for HTML (element content or a quoted attribute)."""
    return html.escape(shown(value), quote=True)


CSS = """
body{font:14px/1.45 system-ui,"Segoe UI",Roboto,Arial,sans-serif;margin:24px;color:#1b1b1b;max-width:1200px}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}
td.num{text-align:right;white-space:nowrap}
.msg{font-family:ui-monospace,Consolas,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:12px 0}
dl.summary dt{font-weight:600}
dl.summary dd{margin:0}
.legend span{display:inline-block;margin-right:16px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.missed{color:#c62828;font-weight:600}
.met{color:#2e7d32;font-weight:600}
footer{margin-top:28px;color:#555;font-size:12px}
svg text{font:12px system-ui,Arial,sans-serif}
"""


def _colour(outcome: str) -> str:
    return COLOURS.get(outcome, OTHER_COLOUR)


def _badge(outcome: str) -> str:
    return f'<span class="badge" style="background:{_colour(outcome)}">{esc(outcome.replace("_", " "))}</span>'


def _ticks(span: float) -> list[float]:
    """About six round tick positions (seconds from the start) across ``span`` seconds."""
    raw = span / 6
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(span // step) + 1)]


def gantt(report: RunReport) -> str:
    """The timeline: one lane per VM (and one for plan actions), one bar per step, coloured by outcome."""
    lanes = report.timeline()
    times = [t for _, steps in lanes for s in steps for t in (s.started_at, s.ended_at) if t is not None]
    if not times:
        return "<p>No step has started yet.</p>"
    start = min(times)
    end = max([*times, report.generated_at] if any(s.ended_at is None for _, st in lanes for s in st) else times)
    span = max((end - start).total_seconds(), 1e-3)
    label_w, chart_w, lane_h, top = 170, 780, 30, 24
    height = top + lane_h * len(lanes) + 8

    def x(at: datetime) -> float:
        return label_w + (at - start).total_seconds() / span * chart_w

    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 20}" height="{height}" '
        f'role="img" aria-label="timeline of every step">'
    ]
    for tick in _ticks(span):
        tx = label_w + tick / span * chart_w
        label = f"{tick:g} s" if report.time_scale == 1 else f"{tick:g} s ({tick * report.time_scale:g} host s)"
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height - 4}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{tx:.1f}" y="{top - 8}" text-anchor="middle" fill="#555">{esc(label)}</text>')
    groups = {v.vm: v.group for v in report.vms}
    order = list(dict.fromkeys(g for g in groups.values() if g is not None))
    for index, (lane, steps) in enumerate(lanes):
        y = top + index * lane_h
        group = groups.get(lane)
        # A plan's groups band together (one shade per group); a single-VM run's lanes alternate.
        shaded = order.index(group) % 2 if group in order else index % 2
        if shaded:
            parts.append(f'<rect x="0" y="{y}" width="{label_w + chart_w}" height="{lane_h}" fill="#f2f2f2"/>')
        name = shown(lane)
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f'<text x="4" y="{y + lane_h / 2 + 4}" font-weight="600">{esc(short)}'
            f"<title>{esc(name + (f' (group {group})' if group else ''))}</title></text>"
        )
        window = next((v for v in report.vms if v.vm == lane and v.down_at and v.up_at), None)
        if window is not None and window.down_at is not None and window.up_at is not None:
            parts.append(
                f'<line class="rto" x1="{x(window.down_at):.2f}" y1="{y + lane_h - 3}" x2="{x(window.up_at):.2f}" '
                f'y2="{y + lane_h - 3}" stroke="#1b1b1b" stroke-width="2"><title>RTO of {esc(name)}: '
                f"{esc(_rto(report, window.rto_s))}</title></line>"
            )
        for step in steps:
            if step.started_at is None:
                continue
            x0 = x(step.started_at)
            x1 = x(step.ended_at or end)
            width = max(x1 - x0, 2.0)  # a step of a few milliseconds still shows
            seconds = "running" if step.seconds is None else f"{step.seconds:.2f} s"
            tip = f"{lane} · {step.name}: {step.outcome}, {seconds}" + (f" — {step.message}" if step.message else "")
            parts.append(
                f'<rect class="bar" data-vm="{esc(lane)}" data-step="{esc(step.name)}" '
                f'data-outcome="{esc(step.outcome)}" x="{x0:.2f}" y="{y + 5}" width="{width:.2f}" '
                f'height="{lane_h - 10}" rx="3" fill="{_colour(step.outcome)}"><title>{esc(tip)}</title></rect>'
            )
            if width > 8 * len(step.name) + 6:
                parts.append(
                    f'<text x="{x0 + 4:.2f}" y="{y + lane_h / 2 + 4}" fill="#fff" pointer-events="none">'
                    f"{esc(step.name)}</text>"
                )
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    items = "".join(f'<span><i style="background:{_colour(key)}"></i>{esc(label)}</span>' for key, label in LEGEND)
    rto = f'<span><i style="background:#1b1b1b;height:2px;vertical-align:3px"></i>{esc(RTO_LEGEND)}</span>'
    return f'<p class="legend">{items}{rto}</p>'


def _html_table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    """A table of plain-text cells: outcomes coloured, times right-aligned, messages monospaced."""
    out = ["<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>"]
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=True):
            if column == "outcome":
                cells.append(f'<td style="color:{_colour(value)};font-weight:600">{esc(value)}</td>')
            elif column in ("start", "end", "seconds", "RTO"):
                cells.append(f'<td class="num">{esc(value)}</td>')
            elif column == "message":
                cells.append(f'<td class="msg">{esc(value)}</td>')
            else:
                cells.append(f"<td>{esc(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def page(report: RunReport) -> str:
    met = report.met_target
    target_class = {True: "met", False: "missed", None: ""}[met]
    summary = [
        ("run", esc(report.run_id)),
        ("kind", esc(f"{report.kind} {report.operation}".strip())),
        *([("plan", esc(report.plan))] if report.plan else []),
        ("started by", esc(report.started_by or "unknown")),
        ("status", esc(report.status)),
        ("outcome", _badge(report.outcome)),
        ("started", esc(_time(report.started_at))),
        ("ended", esc(_time(report.ended_at))),
        ("RTO of the run", esc(_rto(report, report.rto_s))),
        ("RTO target", f'<span class="{target_class}">{esc(_target(report))}</span>'),
        *([("error", f'<span class="msg">{esc(report.error)}</span>')] if report.error else []),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hvdr report — {esc(report.run_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
        '<dl class="summary">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in summary) + "</dl>",
        "<h2>Timeline</h2>",
        _legend(),
        gantt(report),
        "<h2>VMs</h2>",
        _html_table(VM_COLUMNS, [_vm_cells(report, vm) for vm in report.vms]),
        "<h2>Steps</h2>",
        _html_table(STEP_COLUMNS, [_step_cells(report, lane, step) for lane, step in _step_rows(report)]),
    ]
    out.append("<h2>Compensation</h2><ul>")
    compensation = [f"<li>{esc(vm.vm)}: {esc(line)}</li>" for vm in report.vms for line in vm.compensation]
    out += compensation or ["<li>nothing was undone</li>"]
    out.append("</ul><h2>Approvals</h2><ul>")
    approvals = [
        f"<li>{esc(a.step)}: <b>{esc(a.decision)}</b> by {esc(a.by or 'nobody')} at {esc(_time(a.at))}"
        + (f" — {esc(a.comment)}" if a.comment else "")
        + "</li>"
        for a in report.approvals
    ]
    out += approvals or ["<li>no manual step in this run</li>"]
    out.append("</ul><h2>Data loss</h2><ul>")
    out += [f"<li>{esc(vm.vm)}: <b>{esc(_data_loss(vm))}</b> — {esc(_proof(vm))}</li>" for vm in report.vms]
    out.append(
        f"</ul><footer>{esc(RTO_DEFINITION)} Generated {esc(_time(report.generated_at))} by hvdr.</footer>"
        "</body></html>\n"
    )
    return "\n".join(out)
