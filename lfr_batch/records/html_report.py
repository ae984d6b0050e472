"""The alert sheet: ``OUT/NAME/report.html``, one self-contained page.

Each alert's probe snapshot beside the subject's watchlist photo, with
distance, time, video and review outcome, sortable (click a column heading)
and filterable (type in the box), under the deployment's figures and a
timeline of each video (faces seen per 10 s, and each alert coloured by its
review outcome), drawn as inline SVG. Images are embedded, scripts are inline
and nothing is fetched from the network, so the page can be opened on a
machine that is offline or locked down.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

from lfr_batch.records.folder import DeploymentFolder

FIGURES = (
    ("location", "Location"),
    ("date", "Date"),
    ("duration", "Duration"),
    ("purpose", "Purpose"),
    ("watchlist_size", "Watchlist size"),
    ("threshold", "Threshold"),
    ("threshold_mode", "Threshold chosen"),
    ("faces_seen", "Faces seen"),
    ("total_alerts", "Alerts"),
    ("true_alerts_confirmed", "True, confirmed"),
    ("true_alerts_unconfirmed", "True, unconfirmed"),
    ("false_alerts_confirmed", "False, confirmed"),
    ("false_alerts_unconfirmed", "False, unconfirmed"),
    ("false_alert_rate", "False alert rate (%)"),
    ("expected_false_alert_rate", "Expected false alert rate (%)"),
    ("faces_low_quality", "Faces too small or blurred to match"),
    ("arrests", "Arrests"),
    ("other_disposals", "Other disposals"),
    ("no_action", "No action"),
    ("software", "Software"),
    ("software_version", "Version"),
)
COLUMNS = (
    "Alert",
    "Probe",
    "Watchlist photo",
    "Subject",
    "Category",
    "Distance",
    "Seen",
    "Video",
    "Outcome",
    "Reviewer",
    "Notes",
)
OUTCOME_LABELS = {
    "true_confirmed": "True alert, confirmed",
    "true_unconfirmed": "True alert, unconfirmed",
    "false_confirmed": "False alert, confirmed",
    "false_unconfirmed": "False alert, unconfirmed",
    "arrest": "Arrest",
    "other_disposal": "Other disposal",
    "no_action": "No action",
}
THRESHOLD_MODES = {"auto": "calibrated to the watchlist", "fixed": "fixed by the operator"}
RATE_FIGURES = ("false_alert_rate", "expected_false_alert_rate")

STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}
dl{display:grid;grid-template-columns:repeat(auto-fill,minmax(12em,1fr));gap:.6em 1.5em;margin:0 0 1em}
dl>div{min-width:0}
dt{font-size:.85em;color:#555}dd{margin:0;font-size:1.2em;font-weight:600;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:middle}
td{overflow-wrap:anywhere}td:first-child{white-space:nowrap}
th{cursor:pointer;background:#f4f4f4;user-select:none}
img{height:96px;width:auto;image-rendering:auto;border:1px solid #ccc}
.none{color:#888}
img.figure{height:auto;max-width:100%;border:none}
.timeline{margin:.2em 0 1em}.timeline h3{font-size:1em;margin:.6em 0 .2em;overflow-wrap:anywhere}
.timeline svg{width:100%;height:auto;display:block}
.legend span{display:inline-block;margin-right:1.2em}.legend i{display:inline-block;width:.9em;height:.9em;
vertical-align:-.1em;margin-right:.3em}
tr[data-listed=below]{background:#f4f4f4;color:#555}
td.probes img{height:64px;margin-right:2px}
.probe-strip img{margin-right:.4em}
"""
# Colour-blind-safe (Okabe-Ito): unreviewed orange, true alerts vermilion, false alerts blue.
OUTCOME_COLOURS = {"": "#e69f00", "true": "#d55e00", "false": "#0072b2"}
FACES_COLOUR = "#b8b8b8"
TIMELINE_WIDTH, TIMELINE_HEIGHT, BARS_HEIGHT = 1000, 78, 36
TIMELINE_BARS = 120
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800)

SCRIPT = """
const table=document.getElementById('findings'),body=table.tBodies[0];
const filter=document.getElementById('filter');
function applyFilter(){const q=filter.value.toLowerCase();let shown=0;
 for(const row of body.rows){const hit=row.textContent.toLowerCase().includes(q);row.hidden=!hit;shown+=hit;}
 document.getElementById('shown').textContent=shown;}
function sortBy(index,descending){const rows=[...body.rows];
 const key=r=>{const c=r.cells[index];return c.dataset.sort??c.textContent.trim();};
 rows.sort((a,b)=>{const x=key(a),y=key(b),nx=parseFloat(x),ny=parseFloat(y);
  const order=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return descending?-order:order;});
 rows.forEach(r=>body.appendChild(r));table.dataset.sorted=index+(descending?'-desc':'');}
[...table.tHead.rows[0].cells].forEach((th,i)=>th.addEventListener('click',()=>
 sortBy(i,table.dataset.sorted===String(i))));
filter.addEventListener('input',applyFilter);
const params=new URLSearchParams(location.hash.slice(1));
if(params.has('q')){filter.value=params.get('q');}
if(params.has('sort')){
 const i=[...table.tHead.rows[0].cells].findIndex(c=>c.dataset.key===params.get('sort'));
 if(i>=0)sortBy(i,params.get('order')==='desc');}
applyFilter();
window.addEventListener('load',()=>{const images=[...document.images];
 document.body.dataset.imagesShown=images.filter(i=>i.complete&&i.naturalWidth>0).length;});
"""


def embedded_image(paths: DeploymentFolder, relative: str, label: str) -> str:
    path = paths.evidence(relative)
    if path is None:
        return '<span class="none">none</span>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(label)}" src="data:image/jpeg;base64,{data}">'


def _evaluation(paths: DeploymentFolder) -> str:
    """The DET curve of ``lfr-batch evaluate``, where one was drawn."""
    path = paths.det_figure
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        "<h2>Evaluation against ground truth</h2><p>Each point is a threshold: watchlisted "
        "appearances missed against strangers alerted (lfr-batch evaluate; evaluation.csv).</p>"
        f'<img class="figure" alt="DET curve" src="data:image/png;base64,{data}">'
    )


def clock(seconds: float) -> str:
    """A time into a video as h:mm:ss or m:ss."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass(frozen=True)
class Marker:
    """A finding on a video's timeline: an alert, or a search candidate."""

    finding_id: str
    video: str
    first_seen_s: float
    last_seen_s: float
    verdict: str  # a key of OUTCOME_COLOURS: "", "true" or "false"
    label: str  # shown when hovered


def _timeline(video: dict[str, Any], markers: list[Marker], bin_s: float) -> str:
    """One video's timeline as inline SVG: grey bars of faces seen per bin, and a band
    and marker for each finding from its first to its last sighting."""
    escape = html.escape
    duration = max(float(video.get("duration_s") or 0.0), bin_s / 10)
    scale = TIMELINE_WIDTH / duration
    parts = []
    stored = [int(count) for count in video.get("faces_seen_by_bin") or []]
    # At most TIMELINE_BARS bars: a long video's bins are added up into wider ones.
    group = max(-(-len(stored) // TIMELINE_BARS), 1)
    counts = [sum(stored[i : i + group]) for i in range(0, len(stored), group)]
    bin_s *= group
    most = max(counts, default=0) or 1
    for index, count in enumerate(counts):
        if not count:
            continue
        height = BARS_HEIGHT * count / most
        start = index * bin_s
        parts.append(
            f'<rect class="faces" x="{start * scale:.1f}" y="{BARS_HEIGHT - height + 4:.1f}" '
            f'width="{max(min(bin_s, duration - start) * scale - 1, 1):.1f}" height="{height:.1f}" '
            f'fill="{FACES_COLOUR}"><title>{clock(start)}-{clock(start + bin_s)}: {count} '
            f"face{'s' if count != 1 else ''} seen</title></rect>"
        )
    for marker in markers:
        first, last = marker.first_seen_s, marker.last_seen_s
        colour = OUTCOME_COLOURS.get(marker.verdict, OUTCOME_COLOURS[""])
        x = first * scale
        parts.append(
            f'<g data-marker="{escape(marker.finding_id)}" data-outcome="{escape(marker.verdict or "none")}">'
            f"<title>{escape(marker.label)}</title>"
            f'<rect x="{x:.1f}" y="{BARS_HEIGHT + 6}" width="{max((last - first) * scale, 3):.1f}" '
            f'height="10" fill="{colour}"/>'
            f'<path d="M{x:.1f} {BARS_HEIGHT + 6}v-{BARS_HEIGHT + 2}" stroke="{colour}" '
            f'stroke-width="2"/></g>'
        )
    step = next((s for s in TICK_STEPS_S if duration / s <= 10), TICK_STEPS_S[-1])
    ticks = []
    for index in range(int(duration // step) + 1):
        x = index * step * scale
        anchor = "start" if index == 0 else "end" if x > TIMELINE_WIDTH - 30 else "middle"
        ticks.append(
            f'<path d="M{x:.1f} {BARS_HEIGHT + 18}v4" stroke="#666"/>'
            f'<text x="{x:.1f}" y="{TIMELINE_HEIGHT - 2}" text-anchor="{anchor}">{clock(index * step)}</text>'
        )
    start = f", from {escape(str(video['start']))}" if video.get("start") else ""
    return (
        f'<div class="timeline" data-video="{escape(str(video["video"]))}">'
        f"<h3>{escape(str(video['video']))} ({clock(duration)}{start})</h3>"
        f'<svg viewBox="0 0 {TIMELINE_WIDTH} {TIMELINE_HEIGHT}" role="img" font-size="13" fill="#444" '
        f'aria-label="timeline of {escape(str(video["video"]))}">'
        f'<path d="M0 {BARS_HEIGHT + 18}H{TIMELINE_WIDTH}" stroke="#666"/>{"".join(parts)}{"".join(ticks)}'
        "</svg></div>"
    )


def timelines(
    videos: list[dict[str, Any]], markers: list[Marker], bin_s: float, legend: tuple[tuple[str, str], ...]
) -> str:
    shown = [v for v in videos if v.get("status") in ("ok", "partial")]
    if not shown:
        return ""
    keys = "".join(
        f'<span><i style="background:{colour}"></i>{label}</span>'
        for colour, label in ((FACES_COLOUR, "faces first seen (bar height: how many)"), *legend)
    )
    return f'<h2>Timeline</h2><p class="legend">{keys}</p>' + "".join(
        _timeline(v, [m for m in markers if m.video == v["video"]], bin_s) for v in shown
    )


ALERT_LEGEND = (
    (OUTCOME_COLOURS[""], "alert, not reviewed"),
    (OUTCOME_COLOURS["true"], "true alert"),
    (OUTCOME_COLOURS["false"], "false alert"),
)


def _alert_marker(alert: dict[str, Any]) -> Marker:
    first, last = float(alert["first_seen_s"]), float(alert["last_seen_s"])
    outcome = OUTCOME_LABELS.get(str(alert.get("outcome")), "not reviewed")
    who = f"{alert['subject_name']} ({alert['subject_id']})"
    return Marker(
        finding_id=str(alert["alert_id"]),
        video=str(alert["video"]),
        first_seen_s=first,
        last_seen_s=last,
        verdict=str(alert.get("outcome") or "").split("_")[0],
        label=f"{alert['alert_id']} {who}, {clock(first)}-{clock(last)}, {outcome}",
    )


def page(title: str, body: str) -> str:
    """A self-contained page: no request leaves it, whatever a cell holds."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        f"style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1>{body}<script>{SCRIPT}</script></body></html>"
    )


def filter_box(placeholder: str, rows: int, noun: str) -> str:
    return (
        f'<p><label>Filter <input id="filter" type="search" placeholder="{html.escape(placeholder)}">'
        "</label> "
        f'<span id="shown">{rows}</span> of {rows} {noun} shown; click a heading to sort.</p>'
    )


def figures(values: dict[str, Any], labels: tuple[tuple[str, str], ...]) -> str:
    """Each label and its value in one box, so they wrap together at any width."""
    escape = html.escape
    return (
        "<dl>"
        + "".join(
            f'<div data-figure="{key}"><dt>{escape(label)}</dt><dd>{escape(_figure(values, key))}</dd></div>'
            for key, label in labels
        )
        + "</dl>"
    )


def _figure(deployment: dict[str, Any], key: str) -> str:
    value = deployment.get(key, "")
    if key in RATE_FIGURES and value != "":
        return f"{float(value):.3g}"
    if key == "threshold_mode":
        return THRESHOLD_MODES.get(str(value), str(value))
    return str(value) or "—"


def render(
    paths: DeploymentFolder,
    deployment: dict[str, Any],
    alerts: list[dict[str, Any]],
    videos: list[dict[str, Any]],
    bin_s: float,
) -> str:
    """The page for one deployment: its record, its alert rows (as in alerts.csv) and
    its videos (as the deployment holds them; ``faces_seen_by_bin`` per ``bin_s``)."""
    escape = html.escape
    keys = (
        "alert_id",
        "probe",
        "photo",
        "subject",
        "category",
        "distance",
        "seen",
        "video",
        "outcome",
        "reviewer",
        "notes",
    )
    head = "".join(
        f'<th data-key="{key}">{escape(label)}</th>' for key, label in zip(keys, COLUMNS, strict=True)
    )
    rows = []
    for alert in alerts:
        seen = alert.get("first_seen") or f"{alert['first_seen_s']} s"
        outcome = (
            " / ".join(OUTCOME_LABELS.get(v, v) for v in (alert.get("outcome"), alert.get("engagement")) if v)
            or "not reviewed"
        )
        rows.append(
            "<tr>"
            f"<td>{escape(alert['alert_id'])}</td>"
            f"<td>{embedded_image(paths, alert['snapshot'], 'probe ' + alert['alert_id'])}</td>"
            f"<td>{embedded_image(paths, alert.get('subject_photo', ''), 'watchlist photo')}</td>"
            f"<td>{escape(alert['subject_name'])} ({escape(alert['subject_id'])})</td>"
            f"<td>{escape(alert['category'] or '—')}</td>"
            f"<td>{alert['distance']}</td>"
            f'<td data-sort="{escape(str(alert["first_seen_s"]))}">{escape(str(seen))}</td>'
            f"<td>{escape(alert['video'])}</td>"
            f"<td>{escape(outcome)}</td>"
            f"<td>{escape(str(alert.get('reviewer') or ''))}</td>"
            f"<td>{escape(str(alert.get('notes') or ''))}</td>"
            "</tr>"
        )
    return page(
        f"Deployment {escape(deployment['deployment'])}",
        figures(deployment, FIGURES)
        + filter_box("name, video, outcome…", len(alerts), "alerts")
        + f'<table id="findings"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        + timelines(videos, [_alert_marker(alert) for alert in alerts], bin_s, ALERT_LEGEND)
        + _evaluation(paths),
    )
