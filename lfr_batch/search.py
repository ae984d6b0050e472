"""Retrospective search: where does one person appear in recorded footage?

An investigator's photos of one person (each must show exactly one usable face)
become a one-subject list, and the footage runs through the same engine as a
scan (:class:`lfr_batch.scan.FootageRun`): segments, workers or Dask,
skip-on-rerun, a record per video. Every track is compared with the person, and
the result is a ranked list of candidates for a trained person to judge, not an
alert: the candidates down to a cut calibrated as a scan's cuts are, on the faces
the search saw (so the list states how many false candidates to expect), then the
next few below the cut, marked so, to show where the evidence thins out.

``cases/NAME/`` is one case folder, owned like a deployment folder (same state,
lock and review store): ``candidates.csv``, ``candidates.xlsx``, ``case.html``
(:mod:`lfr_batch.records.case_report`), ``snapshots/`` (one crop per listed candidate)
and ``probe/`` (the face of each probe photo). Only listed candidates keep
evidence: a candidate pushed off the list by nearer ones loses its snapshot and
record at once, and nothing of any other face is written.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lfr_batch.errors import ConfigError, SearchError
from lfr_batch.executors import check_scheduler
from lfr_batch.files import file_sha256, write_atomic
from lfr_batch.options import LOOK_FURTHER, check_all, on_value
from lfr_batch.records.case_report import (
    CASE_KIND,
    case_cut,
    is_case,
    ranked,
    shown_count,
    write_case_reports,
)
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.state import DeploymentState, Finding, VideoRecord
from lfr_batch.scan import (
    FootageRun,
    ProgressCallback,
    RunCuts,
    ScanConfig,
    ScanResult,
    find_footage,
    load_for_scan,
    open_state,
    stored_finding,
)
from lfr_batch.signing import signing_key
from lfr_batch.vision import DetectorName
from lfr_batch.vision.alerts import Alert
from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.models import ENCODER_MODEL, HOG_DETECTOR_MODEL, LANDMARK_MODEL
from lfr_batch.vision.photos import PhotoError, crop_face, encode_jpeg
from lfr_batch.vision.references import one_face
from lfr_batch.watchlist.builder import REFERENCE_PHOTO_MAX_SIDE
from lfr_batch.watchlist.model import Subject, Watchlist
from lfr_batch.watchlist.store import save_watchlist

logger = logging.getLogger(__name__)

MAX_PROBE_PHOTOS = 50
# The rows of lfr_batch.options a search adds to the footage options it shares with a scan.
SEARCH_OPTIONS = ("top", "below", "max_false_candidate_rate")


@dataclass(frozen=True)
class SearchConfig:
    photos: tuple[Path, ...]
    footage: tuple[Path, ...]
    case: str
    out_dir: Path = Path("cases")
    # The tunable options take their defaults and ranges from lfr_batch.options.
    top: int = field(default_factory=on_value("top"))
    below: int = field(default_factory=on_value("below"))
    max_false_candidate_rate: float = field(default_factory=on_value("max_false_candidate_rate"))
    start: datetime | None = None
    sample_fps: float = field(default_factory=on_value("sample_fps"))
    upsample: int = field(default_factory=on_value("upsample"))
    detector: DetectorName = field(default_factory=on_value("detector"))
    workers: int = field(default_factory=on_value("workers"))
    scheduler: str | None = None
    segment_seconds: float | None = None  # no longer used: checked, and ignored with a warning
    overwrite: bool = False
    wait: bool = False

    @property
    def case_dir(self) -> Path:
        return self.out_dir / self.case

    @property
    def paths(self) -> DeploymentFolder:
        return DeploymentFolder(self.case_dir)

    def scan_config(self) -> ScanConfig:
        """How the footage is scanned: a scan's engine, matching as far as LOOK_FURTHER."""
        return ScanConfig(
            inputs=self.footage,
            watchlist=self.paths.probe_list,
            deployment=self.case,
            out_dir=self.out_dir,
            start=self.start,
            threshold=LOOK_FURTHER,
            sample_fps=self.sample_fps,
            upsample=self.upsample,
            detector=self.detector,
            workers=self.workers,
            scheduler=self.scheduler,
            segment_seconds=self.segment_seconds,
            overwrite=self.overwrite,
            wait=self.wait,
        )

    def validate(self) -> None:
        if not self.photos:
            raise ConfigError("no probe photo given")
        if len(self.photos) > MAX_PROBE_PHOTOS:
            raise ConfigError(
                f"{len(self.photos)} probe photos: at most {MAX_PROBE_PHOTOS}, all of one person"
            )
        check_all(self, SEARCH_OPTIONS)
        try:
            self.scan_config().validate()
        except ConfigError as error:
            raise ConfigError(str(error).replace("deployment name", "case name")) from None


@dataclass(frozen=True)
class Probe:
    """The person searched for: their photos' faces as a one-subject list."""

    watchlist: Watchlist
    photos: tuple[tuple[str, str], ...]  # (path, sha256) of each probe photo
    crops: tuple[bytes, ...]  # each photo's face, for the reviewer

    @property
    def sha256(self) -> str:
        """What identifies the person searched for: the photos' contents, in any order."""
        return hashlib.sha256("\n".join(sorted(h for _p, h in self.photos)).encode()).hexdigest()


def read_probe(photos: Sequence[Path], case: str) -> Probe:
    """Each photo's one face, encoded; a photo with no face, or several, is refused."""
    detector, encoder = face_detector("hog", upsample=1), FaceEncoder()
    encodings, crops, hashes = [], [], []
    for photo in photos:
        try:
            image, box, encoding = one_face(photo, detector, encoder)
        except PhotoError as error:
            raise SearchError(f"probe photo {photo}: {error}") from None
        encodings.append(encoding)
        crops.append(encode_jpeg(crop_face(image, box, max_side=REFERENCE_PHOTO_MAX_SIDE), quality=85))
        hashes.append((str(photo), file_sha256(photo)))
    rows = np.stack(encodings)
    _warn_about_two_people(rows, [path for path, _h in hashes])
    subjects = np.zeros(len(rows), dtype=np.int64)
    watchlist = Watchlist(
        subjects=[Subject(subject_id=case, name=case, photo_jpeg=crops[0])],
        encodings=rows,
        encoding_subject=subjects,
        encoding_source=[Path(path).name for path, _h in hashes],
        created=datetime.now(UTC).replace(microsecond=0),
        models={"detector": HOG_DETECTOR_MODEL, "landmarks": LANDMARK_MODEL, "encoder": ENCODER_MODEL},
    )
    return Probe(watchlist, tuple(hashes), tuple(crops))


def _warn_about_two_people(encodings: np.ndarray, photos: list[str]) -> None:
    """Photos of two people would rank the faces between them: say so, as the ranking
    stays a person's to judge (a photo years older can lie far from the rest)."""
    gaps = np.linalg.norm(encodings[:, None, :] - encodings[None, :, :], axis=2)
    first, second = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
    if gaps[first, second] > LOOK_FURTHER:
        logger.warning(
            "probe photos %s and %s look like different people (distance %.2f, over %g): "
            "the candidates are ranked against both; give photos of one person",
            photos[first],
            photos[second],
            gaps[first, second],
            LOOK_FURTHER,
        )


class CandidateEvidence:
    """A case keeps its listed candidates only: a snapshot each, numbered C00001, …"""

    def __init__(
        self, paths: DeploymentFolder, max_false_candidate_rate: float, top: int, below: int
    ) -> None:
        self.paths, self.top, self.below = paths, top, below
        self.max_false_candidate_rate = max_false_candidate_rate
        self.cut, self.expected_false_candidate_rate = LOOK_FURTHER, 0.0  # until calibrated
        self.outputs = paths.case_outputs

    def calibrated(self, state: DeploymentState, cuts: RunCuts) -> None:
        """The cut at the false candidate rate asked for, on the faces this search saw:
        it is the case's cut from now on, stored with the probe's facts."""
        calibration = cuts.calibration
        self.cut = min(float(calibration.cuts(self.max_false_candidate_rate)[0]), LOOK_FURTHER)
        self.expected_false_candidate_rate = calibration.expected_false_alert_rate(self.cut)
        state.settings["watchlist"].update(
            {
                "cut": self.cut,
                "expected_false_candidate_rate": self.expected_false_candidate_rate,
                "calibration": calibration.source,
            }
        )
        state.save_settings()

    def resume(self, state: DeploymentState) -> None:
        """Take up the case's cut from its last search, for tidying before this one."""
        if state.exists and "cut" in state.settings.get("watchlist", {}) | state.settings.get("scan", {}):
            self.cut = case_cut(state)

    def _shown(self, distances: list[float]) -> int:
        return shown_count(distances, self.cut, self.top, self.below)

    def keep(self, state: DeploymentState, alerts: list[Alert], watchlist: Watchlist) -> list[Finding]:
        held = [alert.distance for _video, alert in state.alerts()]
        found = sorted(alerts, key=lambda a: a.distance)
        distances = sorted(held + [round(a.distance, 4) for a in found])
        shown = self._shown(distances)
        last = distances[shown - 1] if shown else -math.inf
        records = []
        number = state.next_alert_number()
        for alert in found:
            if round(alert.distance, 4) > last:
                break  # ranked below every listed candidate: nothing of it is written
            candidate_id = f"C{number:05d}"
            number += 1
            snapshot = self.paths.snapshot(candidate_id)
            write_atomic(self.paths.file(snapshot), alert.best.snapshot_jpeg)
            subject = watchlist.subjects[alert.subject_index]
            records.append(
                stored_finding(alert, candidate_id, snapshot, subject, subject_photo=self.paths.probe_face(0))
            )
        return records

    def committed(self, state: DeploymentState) -> None:
        """Drop candidates ranked off the list: their records, snapshots and reviews."""
        listed = ranked(state)
        dropped = {
            alert.alert_id for _video, alert in listed[self._shown([a.distance for _v, a in listed]) :]
        }
        with state.transaction():  # the records and their reviews go together, or not at all
            for record in state.ordered():
                gone = [alert for alert in record.alerts if alert.alert_id in dropped]
                if not gone:
                    continue
                last_number = max(int(alert.alert_id[1:]) for alert in gone)
                purged = {
                    **record.purged,
                    "last_alert_number": max(last_number, record.purged.get("last_alert_number", 0)),
                }
                kept = [alert for alert in record.alerts if alert.alert_id not in dropped]
                state.replace_record(replace(record, alerts=kept, purged=purged))
            state.forget_reviews(alert.alert_id for _video, alert in state.alerts())
        if dropped:
            logger.info(
                "%d candidate(s) ranked off the list by nearer ones: their evidence is deleted", len(dropped)
            )
        # After the records: a crash in between leaves a snapshot no record names, which
        # this sweep (run after every commit and before every search) deletes.
        listed_snapshots = {alert.snapshot for _video, alert in state.alerts()}
        for path in self.paths.file(self.paths.SNAPSHOTS).glob("*.jpg"):
            if f"{self.paths.SNAPSHOTS}/{path.name}" not in listed_snapshots:
                path.unlink(missing_ok=True)

    def write_reports(self, state: DeploymentState) -> None:
        write_case_reports(state)


@dataclass
class SearchResult:
    case_dir: Path
    scan: ScanResult
    cut: float
    expected_false_candidate_rate: float  # per face seen, at the cut
    probe: Probe
    candidates: list[tuple[VideoRecord, Finding]] = field(default_factory=list)  # ranked

    @property
    def above_cut(self) -> int:
        return sum(alert.distance <= self.cut for _video, alert in self.candidates)


def search(config: SearchConfig, progress: ProgressCallback | None = None) -> SearchResult:
    """Search the footage not yet searched in this case, then rank and write the case."""
    config.validate()
    began = time.perf_counter()
    probe = read_probe(config.photos, config.case)
    videos = find_footage(config.footage)
    scan_config = config.scan_config()
    if config.scheduler:
        check_scheduler(config.scheduler)  # before --overwrite clears anything
    paths = config.paths
    evidence = CandidateEvidence(paths, config.max_false_candidate_rate, config.top, config.below)
    created = not config.case_dir.exists()  # before the lock makes the folder
    with paths.lock("search", wait=config.wait):
        scan_settings = replace(
            scan_config.scan_settings(probe.sha256),
            kind=CASE_KIND,
            top=config.top,
            below=config.below,
            max_false_candidate_rate=config.max_false_candidate_rate,
        )
        if not config.overwrite:
            _refuse_another_person(DeploymentState(config.case_dir), probe, config)
        state = open_state(config.case_dir, scan_settings, config.overwrite, evidence.outputs)
        evidence.resume(state)
        earlier = {
            key: value
            for key, value in state.settings.get("watchlist", {}).items()
            if key in ("cut", "expected_false_candidate_rate", "calibration")
        }
        # The list every worker loads; signed like any list when LFR_BATCH_KEY is set.
        save_watchlist(probe.watchlist, scan_config.watchlist, signing_key())
        for index, crop in enumerate(probe.crops):
            write_atomic(paths.file(paths.probe_face(index)), crop)
        state.start(
            scan_settings,
            {},
            {
                "probe_photos": [
                    {"photo": path, "sha256": digest, "face": paths.probe_face(index)}
                    for index, (path, digest) in enumerate(probe.photos)
                ],
                **earlier,
            },
        )
        evidence.committed(state)  # a run killed between a commit and its tidying
        scanned_at = datetime.now(UTC).replace(microsecond=0)
        result = ScanResult(deployment_dir=config.case_dir, records=[], watchlist_sha256=probe.sha256)
        loaded = load_for_scan(scan_config.watchlist)
        run = FootageRun(state, loaded, scan_config, evidence, result, scanned_at, began, progress)
        run.scan(videos)
        run.finish(created, "case")
        return SearchResult(
            config.case_dir,
            result,
            evidence.cut,
            evidence.expected_false_candidate_rate,
            probe,
            ranked(state),
        )


def _refuse_another_person(state: DeploymentState, probe: Probe, config: SearchConfig) -> None:
    """One case is one person: other photos would mix two people's candidates."""
    if not state.exists:
        return
    if not is_case(state):
        raise ConfigError(
            f"{config.case_dir} holds a scan deployment, not a search case; use another --case "
            "(or another --out)"
        )
    if state.settings.get("scan", {}).get("watchlist_sha256") != probe.sha256:
        raise ConfigError(
            f"case {config.case} was searched with other probe photos; give the same photos, "
            "use another --case, or --overwrite"
        )
