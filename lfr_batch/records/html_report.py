"""The alert sheet: ``OUT/NAME/report.html``, one self-contained page.

Each alert's footage snapshot beside the subject's watchlist photo, with
distance, time, video and review outcome, sortable (click a column heading)
and filterable (type in the box), under the deployment's figures, and the
deployment's timeline (:mod:`lfr_batch.records.timeline`) drawn as inline SVG.
Images are embedded, scripts are inline and nothing is fetched from the network,
so the page can be opened on a machine that is offline or locked down.

The page is a Jinja2 template (``templates/report.html``; ``case.html`` shares its
frame, parts and stylesheet) with autoescaping on, so no value reaches the page
unescaped; the few pieces of markup made here are ``Markup`` built from escaped parts.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from lfr_batch.files import write_atomic
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.timeline import Drawing, Marker, clock, legend, png

FIGURES = (
    ("location", "Location"),
    ("date", "Date"),
    ("duration", "Duration"),
    ("purpose", "Purpose"),
    ("watchlist_size", "Watchlist size"),
    ("threshold", "Threshold (median cut)"),
    ("threshold_mode", "Threshold chosen"),
    ("calibration", "Calibrated on"),
    ("faces_seen", "Faces seen"),
    ("total_alerts", "Alerts"),
    ("true_alerts_confirmed", "True, confirmed"),
    ("true_alerts_unconfirmed", "True, unconfirmed"),
    ("false_alerts_confirmed", "False, confirmed"),
    ("false_alerts_unconfirmed", "False, unconfirmed"),
    ("false_alert_rate_percent", "False alert rate (% of faces seen)"),
    ("expected_false_alert_rate_percent", "Expected false alert rate (% of faces seen)"),
    ("faces_low_quality", "Faces too small or blurred to match"),
    ("arrests", "Arrests"),
    ("other_disposals", "Other disposals"),
    ("no_action", "No action"),
    ("software", "Software"),
    ("software_version", "Version"),
)
COLUMNS = (
    ("alert_id", "Alert"),
    ("probe", "Footage snapshot"),
    ("photo", "Watchlist photo"),
    ("subject", "Subject"),
    ("distance", "Distance"),
    ("seen", "Seen"),
    ("video", "Video"),
    ("outcome", "Review"),
)
NOT_REVIEWED = Markup('<span class="keep">not reviewed</span>')  # never broken over two lines
OUTCOME_LABELS = {
    "true_confirmed": "True alert, confirmed",
    "true_unconfirmed": "True alert, unconfirmed",
    "false_confirmed": "False alert, confirmed",
    "false_unconfirmed": "False alert, unconfirmed",
    "arrest": "Arrest",
    "other_disposal": "Other disposal",
    "no_action": "No action",
}
THRESHOLD_MODES = {"auto": "a cut per subject, calibrated on footage", "fixed": "fixed by the operator"}
RATE_FIGURES = ("false_alert_rate_percent", "expected_false_alert_rate_percent")

TEMPLATES = Environment(
    loader=PackageLoader("lfr_batch.records", "templates"),
    autoescape=True,  # every value, whatever it holds, is escaped unless marked safe here
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
)
# A file name breaks only at its separators (never mid-word), the full path on hover.
_SEPARATORS = re.compile(r"(?<=[_\-.])")


def filename(path: str) -> Markup:
    name = PurePath(str(path)).name or str(path)
    return Markup("<wbr>").join(_SEPARATORS.split(name))


def moment(text: str) -> Markup:
    """An ISO 8601 time in the one form the sheets show, 2026-11-26 14:00:05 +01:00,
    which may wrap between its date, time and zone but never inside one (a time given
    without a zone is local where lfr-batch ran, and shown without)."""
    if not text:
        return Markup("")
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return Markup("{}").format(text)
    parts = [when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S")]
    if when.tzinfo:
        zone = when.strftime("%z")
        parts.append(f"{zone[:-2]}:{zone[-2:]}")
    return Markup(" ").join(Markup('<span class="keep">{}</span>').format(part) for part in parts)


TEMPLATES.filters.update(filename=filename, moment=moment, clock=lambda seconds: clock(float(seconds)))


def embedded_image(paths: DeploymentFolder, relative: str, label: str) -> Markup:
    path = paths.evidence(relative)
    if path is None:
        return Markup('<span class="none">none</span>')
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Markup('<img alt="{}" src="data:image/jpeg;base64,{}">').format(label, data)


def data_uri(path: Path, kind: str) -> str:
    return (
        f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}" if path.is_file() else ""
    )


ALERT_LEGEND = legend("alert, not reviewed", "true alert", "false alert")


def alert_markers(alerts: list[dict[str, Any]]) -> list[Marker]:
    """Each alert on the timeline, coloured by its review."""
    markers = []
    for alert in alerts:
        first, last = float(alert["first_seen_s"]), float(alert["last_seen_s"])
        outcome = OUTCOME_LABELS.get(str(alert.get("outcome")), "not reviewed")
        who = f"{alert['subject_name']} ({alert['subject_id']})"
        markers.append(
            Marker(
                finding_id=str(alert["alert_id"]),
                video=str(alert["video"]),
                first_seen_s=first,
                last_seen_s=last,
                verdict=str(alert.get("outcome") or "").split("_")[0],
                label=f"{alert['alert_id']} {who}, {clock(first)}-{clock(last)} into the file, {outcome}",
            )
        )
    return markers


def figure_items(values: dict[str, Any], labels: tuple[tuple[str, str], ...]) -> list[tuple[str, str, str]]:
    """Each figure's key, label and value as shown: a label and its value share one box."""
    return [(key, label, _figure(values, key)) for key, label in labels]


def _figure(deployment: dict[str, Any], key: str) -> str:
    value = deployment.get(key, "")
    if key in RATE_FIGURES and value != "":
        return f"{float(value):.3g}"
    if key == "threshold_mode":
        return THRESHOLD_MODES.get(str(value), str(value))
    if key in ("start", "end"):
        return moment(str(value)) or "—"
    return str(value) or "—"


def render(
    paths: DeploymentFolder,
    deployment: dict[str, Any],
    alerts: list[dict[str, Any]],
    drawing: Drawing | None,
    evaluation: dict[str, Any] | None = None,
) -> str:
    """The page for one deployment: its record, its alert rows (as in alerts.csv), the
    timeline drawn from its videos, and the last evaluation's figures where there was
    one (what the scan's cuts gave away against the best single threshold in hindsight)."""
    shown = [
        {
            **alert,
            "outcome_text": " / ".join(
                OUTCOME_LABELS.get(value, value)
                for value in (alert.get("outcome"), alert.get("engagement"))
                if value
            )
            or NOT_REVIEWED,
        }
        for alert in alerts
    ]
    return TEMPLATES.get_template("report.html").render(
        title=f"Deployment {deployment['deployment']}",
        figures=figure_items(deployment, FIGURES),
        columns=COLUMNS,
        alerts=shown,
        image=lambda relative, label: embedded_image(paths, relative, label),
        drawing=drawing,
        det_curve=data_uri(paths.det_figure, "image/png"),
        evaluation=evaluation,
    )


def write_timeline_png(paths: DeploymentFolder, drawing: Drawing | None) -> None:
    """timeline.png beside the sheet: the same drawing, for a briefing."""
    if drawing is None:
        paths.timeline_png.unlink(missing_ok=True)
    else:
        write_atomic(paths.timeline_png, png(drawing))
