"""Calibration, the auto threshold and its warning, the quality gate, and evaluate."""

from __future__ import annotations

import json
import math
import pickle
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    SAMPLE_PHOTOS,
    SAMPLE_WATCHLIST,
    face_crop,
    scan_cli,
    stored_records,
)

from lfr_batch.cli import main
from lfr_batch.records.evaluation import HINDSIGHT
from lfr_batch.records.retention import purge
from lfr_batch.records.state import DeploymentState
from lfr_batch.vision.calibration import (
    BIN_WIDTH,
    CEILING_MARGIN,
    Calibration,
    DistanceHistograms,
    FootageReference,
    fit_tail,
    load_reference,
    pairwise_distances,
)
from lfr_batch.vision.detections import Detections
from lfr_batch.vision.encodings import MIN_FACE_PX, face_landmarks, good_enough_to_match
from lfr_batch.watchlist.model import Subject as Person
from lfr_batch.watchlist.model import Watchlist
from lfr_batch.watchlist.store import load_watchlist, to_payload


def crowd(people: int, seed: int = 0, spread: float = 0.06) -> np.ndarray:
    """Encodings of people scattered about the reference's average face."""
    rng = np.random.default_rng(seed)
    return load_reference().mean_face + rng.normal(0, spread, (people, 128))


def test_each_subject_is_cut_so_that_the_whole_list_alerts_on_the_rate() -> None:
    reference = load_reference()
    for size in (1, 10, 100, 1000):
        centroids = crowd(size)
        calibration = Calibration.for_list(centroids, 1e-4, reference)
        cuts = calibration.cuts(1e-4)
        assert calibration.expected_false_alert_rate(cuts) <= 1e-4
        assert calibration.expected_false_alert_rate(cuts + 0.002) > 1e-4
    medians = [
        np.median(Calibration.for_list(crowd(n), 1e-4, reference).cuts(1e-4)) for n in (1, 10, 100, 1000)
    ]
    assert medians == sorted(medians, reverse=True)  # a longer list, stricter cuts
    centroids = crowd(50)
    strict = Calibration.for_list(centroids, 1e-6, reference).cuts(1e-6)
    assert (strict < Calibration.for_list(centroids, 1e-4, reference).cuts(1e-4)).all()


def test_a_subject_near_the_average_face_gets_a_stricter_cut() -> None:
    """Strangers come nearer a subject whose centroid lies near the average face (ORL's
    uniform grey photos do): that subject gets a stricter cut, and the others keep theirs."""
    reference = load_reference()
    centroids = crowd(20)
    central = centroids.copy()
    central[0] = reference.mean_face + 0.2 * (centroids[0] - reference.mean_face)
    plain = Calibration.for_list(centroids, 1e-4, reference).cuts(1e-4)
    moved = Calibration.for_list(central, 1e-4, reference).cuts(1e-4)
    assert moved[0] < plain[0] - 0.05
    np.testing.assert_allclose(moved[1:], plain[1:])


def test_the_runs_faces_set_where_strangers_lie_and_the_reference_bounds_the_loosening() -> None:
    reference = load_reference()
    centroids = crowd(10)
    prior = Calibration.for_list(centroids, 1e-4, reference)
    near, far = DistanceHistograms(10), DistanceHistograms(10)
    near.add(np.full((500, 10), 0.6))  # 500 faces, all 0.6 from every subject: nearer than the reference
    far.add(np.full((500, 10), 1.1))  # ... and further than it
    nearer = Calibration.for_list(centroids, 1e-4, reference, near, "faces")
    assert nearer.locations == pytest.approx(np.full(10, 0.6), abs=0.01)
    assert (nearer.cuts(1e-4) < prior.cuts(1e-4) - 0.1).all()
    assert nearer.faces == 500
    assert nearer.source == "faces"
    looser = Calibration.for_list(centroids, 1e-4, reference, far, "faces").cuts(1e-4)
    np.testing.assert_allclose(looser, np.floor((prior.cuts(1e-4) + CEILING_MARGIN) * 1000) / 1000, atol=1e-3)
    # A handful of faces moves the reference's locations less than hundreds do.
    few = DistanceHistograms(10)
    few.add(np.full((3, 10), 0.6))
    some = Calibration.for_list(centroids, 1e-4, reference, few, "faces").locations
    assert (prior.locations > some).all()
    assert (some > nearer.locations).all()


def test_a_watchlisted_face_among_the_runs_faces_hardly_moves_its_subjects_median() -> None:
    rng = np.random.default_rng(3)
    strangers = rng.normal(0.78, 0.08, (199, 2))
    with_genuine = np.vstack([strangers, [[0.2, 0.8]]])  # a listed person, 0.2 from subject 0
    alone, mixed = DistanceHistograms(2), DistanceHistograms(2)
    alone.add(strangers)
    mixed.add(with_genuine)
    assert abs(mixed.medians()[0] - alone.medians()[0]) < 0.005
    assert mixed.medians() == pytest.approx(np.median(with_genuine, axis=0), abs=BIN_WIDTH)


def test_the_tail_fit_extrapolates_below_what_the_sample_resolves() -> None:
    """Draws from a normal distribution: the probit line is the identity, so the share
    it predicts 6 standard deviations out, where no sample of 50,000 reaches, is right."""
    from statistics import NormalDist

    offset, slope = fit_tail(np.random.default_rng(1).normal(0, 1, 50_000))
    assert offset == pytest.approx(0.0, abs=0.15)
    assert slope == pytest.approx(1.0, abs=0.07)
    predicted = NormalDist().cdf((-6 - offset) / slope)
    assert 1 / 3 < predicted / NormalDist().cdf(-6) < 3


def test_the_reference_fitted_on_a_known_crowd_predicts_its_distances() -> None:
    """Tracks of many people about an average face, in two footage sources: the fitted
    reference puts each subject where these strangers' median distance to it lies."""
    rng = np.random.default_rng(4)
    average = rng.normal(0, 0.1, 128)
    people = average + rng.normal(0, 0.05, (80, 128))
    tracks = np.repeat(people, 2, axis=0) + rng.normal(0, 0.01, (160, 128))
    track_people = [f"p{i // 2}" for i in range(160)]
    footage = ["a" if i < 80 else "b" for i in range(160)]
    subjects = average + rng.normal(0, 0.05, (12, 128))
    reference = FootageReference.fit(
        tracks, track_people, footage, subjects, [f"s{i}" for i in range(12)], "test"
    )
    assert reference.tracks == 160
    assert reference.people == 80
    medians = np.median(pairwise_distances(tracks, subjects), axis=0)
    np.testing.assert_allclose(reference.locations(subjects), medians, atol=0.01)
    assert 0 < reference.scale < 0.1
    again = FootageReference.from_payload(reference.to_payload())
    np.testing.assert_allclose(again.locations(subjects), reference.locations(subjects), atol=1e-5)


@pytest.mark.parametrize(
    "change",
    [
        {"scale": -1.0},
        {"spread": float("nan")},
        {"mean_face": [0.0] * 127},
        {"tail_slope": 0.0},
        {"shift": -0.1},
    ],
)
def test_a_malformed_reference_is_refused(change: dict) -> None:
    with pytest.raises(ValueError, match="footage reference"):
        FootageReference.from_payload({**load_reference().to_payload(), **change})


def test_own_probes_are_footage_views_left_out_with_their_photo() -> None:
    photo_a, view_a, photo_b, view_b = np.zeros((4, 128))
    view_a[1] = 0.2
    photo_b[0] = 0.3
    view_b[:2] = (0.3, 0.2)
    watchlist = Watchlist(
        [Person("a")],
        np.stack([photo_a, view_a, photo_b, view_b]),
        np.zeros(4, int),
        encoding_source=["a/1.png", "a/1.png", "a/2.png", "a/2.png"],
        encoding_footage_view=np.array([False, True, False, True]),
    )
    owner, distances = watchlist.own_probe_distances()
    # view a against photo b and its view: |(0.3, 0.1) - (0, 0.2)|; view b against photo a and its view
    assert owner.tolist() == [0, 0]
    assert distances == pytest.approx([np.hypot(0.3, 0.1), np.hypot(0.3, 0.1)])
    assert watchlist.missed_share(np.array([0.3])) == 1.0
    assert watchlist.missed_share(np.array([0.4])) == 0.0
    single = Watchlist([Person("a")], np.stack([photo_a, view_a]), np.zeros(2, int), ["a/1.png"] * 2,
                       np.array([False, True]))  # fmt: skip
    assert single.missed_share(np.array([0.4])) is None  # one photo: nothing to leave out


def test_a_list_saved_with_a_photo_calibration_loads_and_ignores_it(tmp_path: Path) -> None:
    payload = to_payload(load_watchlist(SAMPLE_WATCHLIST))
    path = tmp_path / "old.pkl"
    table = {
        "location": 0.75,
        "scale": 0.08,
        "pairs": 1,
        "source": "reference",
        "miss_shares": [],
        "note": "",
    }
    path.write_bytes(pickle.dumps({**payload, "calibration": table}))
    assert load_watchlist(path).size == 1
    assert main(["watchlist", "info", str(path)]) == 0


def test_watchlist_info_shows_the_cuts_before_any_footage(
    two_subject_source: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "list.pkl"
    assert main(["watchlist", "build", str(two_subject_source), "-o", str(output), "-q"]) == 0
    capsys.readouterr()
    assert main(["watchlist", "info", str(output)]) == 0
    out = capsys.readouterr().out
    assert "cuts before any footage (the reference" in out
    assert "strictest (their photos lie near the average face" in out
    assert "false alerts per 10,000 faces" in out
    assert main(["watchlist", "info", str(output), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info["auto"]["cuts"]) == {"f1", "m1"}
    assert info["auto"]["expected_false_alert_rate_percent"] <= 0.01
    assert [row["threshold"] for row in info["thresholds"]] == [0.35, 0.4, 0.45, 0.5, 0.55, 0.6]


def test_build_with_background_photos_is_refused_in_one_line(
    two_subject_source: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "list.pkl"
    code = main(
        ["watchlist", "build", str(two_subject_source), "-o", str(output), "--background", str(tmp_path)]
    )
    assert code == 2
    assert "give footage of the site on an ordinary day with 'scan --background'" in capsys.readouterr().err
    assert not output.exists()


def test_auto_is_the_default_and_a_loose_fixed_threshold_warns_once(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path / "auto") == 0
    captured = capsys.readouterr()
    assert "one per subject), calibrated on this run's footage (1 face encoded)" in captured.out
    assert "looser than" not in captured.err
    auto = pd.read_csv(tmp_path / "auto" / "d" / "deployment.csv").iloc[0]
    assert auto["threshold_mode"] == "auto"
    assert auto["expected_false_alert_rate_percent"] <= 0.01
    assert auto["calibration_faces"] == 1
    assert scan_cli(MALE_ONLY, out=tmp_path / "loose", options=("--threshold", "0.6")) == 0
    captured = capsys.readouterr()
    assert captured.err.count("threshold 0.6 is looser than a false alert rate of 0.0001 allows") == 1
    assert "threshold 0.600 (fixed)" in captured.out
    record = pd.read_csv(tmp_path / "loose" / "d" / "deployment.csv").iloc[0]
    assert record["threshold_mode"] == "fixed"
    assert record["threshold"] == 0.6
    assert record["expected_false_alert_rate_percent"] > 1.0  # % of faces seen
    assert scan_cli(MALE_ONLY, out=tmp_path / "strict", options=("--threshold", "0.3")) == 0
    assert "looser than" not in capsys.readouterr().err
    # A stricter rate target gives stricter cuts.
    assert scan_cli(MALE_ONLY, out=tmp_path / "rate", options=("--max-false-alert-rate", "1e-6")) == 0
    assert pd.read_csv(tmp_path / "rate" / "d" / "deployment.csv").iloc[0]["threshold"] < auto["threshold"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--threshold", "loose"), "'loose' is neither 'auto' nor a distance"),
        (("--threshold", "nan"), "--threshold nan must be 'auto' or a number between 0 and 2"),
        (("--threshold", "2.5"), "--threshold 2.5 must be 'auto' or a number between 0 and 2"),
        (
            ("--max-false-alert-rate", "0"),
            "--max-false-alert-rate 0.0 must be a number of at least 1e-09 and under 1",
        ),
        (
            ("--max-false-alert-rate", "nan"),
            "--max-false-alert-rate nan must be a number of at least 1e-09 and under 1",
        ),
        # Not NaN or infinity anywhere: once in settings.json, they would refuse every re-run.
        (("--fps", "nan"), "--fps nan must be a number over 0"),
        (("--fps", "inf"), "--fps inf must be a number over 0"),
        (("--segment-seconds", "nan"), "--segment-seconds nan must be a number from 10 to 86400"),
        (("--segment-seconds", "inf"), "--segment-seconds inf must be a number from 10 to 86400"),
        (("--watchlist-max-age", "nan"), "--watchlist-max-age nan must be a number over 0"),
    ],
)
def test_bad_threshold_options_are_one_line_and_write_nothing(
    tmp_path: Path, capsys, options, message
) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path, options=options) == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1]  # click's own usage lines may come before
    assert not (tmp_path / "d").exists()


def faces(boxes: np.ndarray) -> Detections:
    return Detections.found(boxes, np.zeros(len(boxes)))


def test_the_quality_gate_refuses_small_and_blurred_faces() -> None:
    face = face_crop(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png")
    height, width = face.shape[:2]
    box = np.array([[0, width, height, 0]])
    assert good_enough_to_match(face, faces(box), face_landmarks(face, box)).tolist() == [True]
    blurred = cv2.GaussianBlur(face, (0, 0), height / 12)
    assert good_enough_to_match(blurred, faces(box), face_landmarks(blurred, box)).tolist() == [False]
    scale = (MIN_FACE_PX - 4) / height
    tiny = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    tiny_box = np.array([[0, tiny.shape[1], tiny.shape[0], 0]])
    assert good_enough_to_match(tiny, faces(tiny_box), face_landmarks(tiny, tiny_box)).tolist() == [False]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two head-pose clips against the sample list (F1 only), keeping distances."""
    out = tmp_path_factory.mktemp("evaluated")
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=out, options=("--keep-distances",)) == 0
    return out / "d"


def write_truth(path: Path, rows: list[str]) -> Path:
    path.write_text("video,subject_id,start_s,end_s,person\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


TRUTH_ROWS = [
    f"{FEMALE_AND_MALE.name},intel_actor_f1,0,4.64,f1",
    f"{FEMALE_AND_MALE.name},,0,4.64,m1",
    f"{MALE_ONLY.name},,0,5.2,m1",
]


def test_evaluate_against_a_hand_made_truth(evaluated_run: Path, tmp_path: Path, capsys) -> None:
    truth = write_truth(tmp_path / "truth.csv", TRUTH_ROWS)
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth)]) == 0
    out = capsys.readouterr().out
    threshold = pd.read_csv(evaluated_run / "deployment.csv").iloc[0]["threshold"]
    assert f"all: threshold {threshold:.3f}: 1 of 1 watchlisted appearances found (TPIR 100.0 %)" in out
    assert "0 of 2 strangers alerted (FPIR 0.0 %)" in out
    assert "3 faces seen for 3 true appearances" in out
    table = pd.read_csv(evaluated_run / "evaluation.csv", keep_default_na=False)
    scan_row = table[table["rule"] == "scan"].iloc[0]
    assert scan_row[["alerts", "true_alerts", "false_alerts", "repeated_alerts"]].tolist() == [1, 1, 0, 0]
    assert scan_row["miss_rate"] == 0
    # The sweep: loose enough, M1 (0.62-0.66 from F1) becomes a false alert on a stranger.
    sweep = table[table["rule"] == "track mean"].set_index("threshold")
    assert sweep.loc[0.45, "strangers_alerted"] == 0
    # (M1 beside F1 overlaps her appearance in time, so only the clip of M1 alone can
    # show him as a stranger: truth by time alone cannot tell two people in view apart.)
    assert sweep.loc[0.70, "strangers_alerted"] == 1
    assert sweep.loc[0.25, "watchlisted_found"] == 0
    assert set(table["rule"]) == {"scan", "track mean", "best view", HINDSIGHT}
    # What the scan's cuts gave away: the strictest single threshold that finds as much
    # with no more false alerts (none here: F1 at her distance, no stranger before 0.62).
    hindsight = table[table["rule"] == HINDSIGHT].iloc[0]
    assert (hindsight["watchlisted_found"], hindsight["false_alerts"]) == (1, 0)
    assert sweep.loc[hindsight["threshold"], "watchlisted_found"] == 1
    assert sweep[sweep.index < hindsight["threshold"]]["watchlisted_found"].max() == 0
    assert f"in hindsight: one threshold for every subject, {hindsight['threshold']:.2f}" in out
    png = (evaluated_run / "det.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    page = (evaluated_run / "report.html").read_text(encoding="utf-8")
    assert "DET curve" in page
    assert (
        f"In hindsight, one threshold for every subject, {hindsight['threshold']:.2f}, would have found 1"
        in page
    )


def test_evaluate_per_group_judges_each_alert_against_everyone(
    evaluated_run: Path, tmp_path: Path, capsys
) -> None:
    truth = write_truth(tmp_path / "truth.csv", TRUTH_ROWS)
    groups = tmp_path / "groups.csv"
    groups.write_text("person,group\nf1,women\nm1,men\n", encoding="utf-8")
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth), "--groups", str(groups)]) == 0
    out = capsys.readouterr().out
    threshold = pd.read_csv(evaluated_run / "deployment.csv").iloc[0]["threshold"]
    assert f"women: threshold {threshold:.3f}: 1 of 1 watchlisted appearances found" in out
    assert f"men: threshold {threshold:.3f}: 0 of 0 watchlisted appearances found (TPIR n/a); 0 of 2" in out
    table = pd.read_csv(evaluated_run / "evaluation.csv", keep_default_na=False)
    men = table[(table["rule"] == "scan") & (table["group"] == "men")].iloc[0]
    assert men["true_positive_identification_rate"] == ""  # no watchlisted man: no rate, not 0
    assert men["false_positive_identification_rate"] == "0"


@pytest.mark.parametrize("kept", ["watchlisted", "strangers"])
def test_a_truth_of_one_kind_of_person_leaves_the_deployment_readable(
    evaluated_run: Path, tmp_path: Path, capsys, kept: str
) -> None:
    """With no stranger (or no watchlisted person) in the truth, a rate has nothing to
    measure: n/a, and the state, which holds numbers only, must take what evaluate stores."""
    folder = tmp_path / "d"
    shutil.copytree(evaluated_run, folder)
    rows = [row for row in TRUTH_ROWS if (",," in row) == (kept == "strangers")]
    truth = write_truth(tmp_path / "truth.csv", rows)
    assert main(["evaluate", str(folder), "--truth", str(truth)]) == 0
    captured = capsys.readouterr()
    assert ("FPIR n/a" if kept == "watchlisted" else "TPIR n/a") in captured.out
    assert "unreadable" not in captured.err
    assert main(["review", str(folder), "--import", str(folder / "alerts.csv")]) == 0
    assert main(["grid", str(tmp_path)]) == 0
    assert "DET curve" in (folder / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("video,subject_id,start_s\n", "missing column(s) end_s"),
        ("video,subject_id,start_s,end_s\nx.mp4,,soon,2\n", "line 2: start_s 'soon' is not a number"),
        ("video,subject_id,start_s,end_s\nx.mp4,,3,2\n", "line 2: end_s is before start_s"),
        (
            "video,subject_id,start_s,end_s\nother.mp4,,0,2\n",
            "names videos this deployment did not scan: other.mp4",
        ),
        (f"video,subject_id,start_s,end_s\n{MALE_ONLY.name},,-1,2\n", "line 2: start_s is negative"),
        # Milliseconds given as seconds: an appearance no scan could find, counted as a miss.
        (
            f"video,subject_id,start_s,end_s\n{MALE_ONLY.name},,100000,100400\n",
            f"line 2: start_s 100000 is after the end of {MALE_ONLY.name} (5.2 s)",
        ),
        (
            "video,subject_id,start_s,end_s,person\n" + "\n".join([*TRUTH_ROWS, TRUTH_ROWS[1]]),
            "line 5: the same appearance as line 3",
        ),
        (
            f"video,subject_id,start_s,end_s\nsomewhere/{FEMALE_AND_MALE.name},Intel_Actor_F1,0,4.6\n",
            "line 2: subject_id 'Intel_Actor_F1' is not on the watchlist this deployment was scanned "
            "with (did you mean 'intel_actor_f1'?)",
        ),
    ],
)
def test_a_bad_truth_file_is_one_line(evaluated_run: Path, tmp_path: Path, capsys, content, message) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text(content, encoding="utf-8")
    before = sorted(p.name for p in evaluated_run.iterdir())
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in evaluated_run.iterdir()) == before


def test_unlabelled_strangers_in_view_together_are_two_appearances(
    evaluated_run: Path, tmp_path: Path, capsys
) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text(f"video,subject_id,start_s,end_s\n{MALE_ONLY.name},,0,5\n{MALE_ONLY.name},,0,5\n")
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth)]) == 0
    assert "0 of 2 strangers alerted" in capsys.readouterr().out


@pytest.mark.parametrize("watchlist", ["gone", "changed"])
def test_subject_ids_go_unchecked_with_a_warning_where_the_watchlist_is_not_as_scanned(
    evaluated_run: Path, tmp_path: Path, capsys, watchlist: str
) -> None:
    folder = tmp_path / "d"
    shutil.copytree(evaluated_run, folder)
    moved = tmp_path / "sample.pkl"
    if watchlist == "changed":
        moved.write_bytes(SAMPLE_WATCHLIST.read_bytes() + b"\n")
    state = DeploymentState(folder)
    state.settings["watchlist"]["path"] = str(moved)
    state.save_settings()
    truth = write_truth(tmp_path / "truth.csv", [TRUTH_ROWS[0].replace("intel_actor_f1", "Intel_Actor_F1")])
    assert main(["evaluate", str(folder), "--truth", str(truth)]) == 0
    err = capsys.readouterr().err
    assert err.count("the truth's subject ids cannot be checked against the watchlist") == 1
    assert ("is gone" if watchlist == "gone" else "has changed since the scan") in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("person,group\nf1,women\nm1,men\nf1,men\n", "line 4: 'f1' is already in group 'women' (line 2)"),
        ("person,group\nf1,women\nm1,\n", "line 3: the group of 'm1' is empty"),
    ],
)
def test_a_bad_groups_file_is_one_line(evaluated_run: Path, tmp_path: Path, capsys, content, message) -> None:
    truth = write_truth(tmp_path / "truth.csv", TRUTH_ROWS)
    groups = tmp_path / "groups.csv"
    groups.write_text(content, encoding="utf-8")
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth), "--groups", str(groups)]) == 2
    err = capsys.readouterr().err
    assert f"{groups}, {message}" in err
    assert err.count("\n") == 1


def test_people_in_groups_whom_the_truth_never_names_are_warned_of(
    evaluated_run: Path, tmp_path: Path, capsys
) -> None:
    truth = write_truth(tmp_path / "truth.csv", TRUTH_ROWS)
    groups = tmp_path / "groups.csv"
    strangers = [f"p{number}" for number in range(7)]
    groups.write_text("person,group\nf1,women\nM1,men\n" + "".join(f"{p},men\n" for p in strangers))
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth), "--groups", str(groups)]) == 0
    err = capsys.readouterr().err
    assert (
        f"{groups} names people the truth does not (as a person or a subject_id): "
        "'M1', 'p0', 'p1', 'p2', 'p3' and 3 more"
    ) in err
    assert err.count("\n") == 1


def test_a_deployment_with_purged_alerts_is_not_evaluated(
    evaluated_run: Path, tmp_path: Path, capsys
) -> None:
    """A purged true alert is no longer there to match: it would count as a miss."""
    (tmp_path / "out").mkdir(mode=0o700)  # a reports folder open to all is warned of
    folder = tmp_path / "out" / "d"
    shutil.copytree(evaluated_run, folder)
    assert purge(tmp_path / "out", timedelta(0), now=datetime.now(UTC) + timedelta(days=1)).alerts == 1
    truth = write_truth(tmp_path / "truth.csv", TRUTH_ROWS)
    assert main(["evaluate", str(folder), "--truth", str(truth)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: 1 alert of the videos in the truth was purged, so the rates would count" in err
    assert err.count("\n") == 1
    # The clip of M1 alone lost nothing: a truth of it alone is measured as ever.
    alone = write_truth(tmp_path / "alone.csv", TRUTH_ROWS[2:])
    assert main(["evaluate", str(folder), "--truth", str(alone)]) == 0


def test_no_distances_are_kept_without_the_flag(tmp_path: Path) -> None:
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=tmp_path) == 0
    folder = tmp_path / "d"
    assert not (folder / "distances.csv").exists()
    records = stored_records(folder)
    assert len(records) == 2
    for record in records.values():
        assert record["distances"] == []


def test_alerts_keep_the_evidence_of_their_track(evaluated_run: Path) -> None:
    alerts = pd.read_csv(evaluated_run / "alerts.csv", keep_default_na=False)
    alert = alerts.iloc[0]
    assert alert["subject_id"] == "intel_actor_f1"
    assert alert["views"] >= 1
    assert alert["distance"] <= alert["threshold"]
    assert alert["view_distance"] > 0
    assert alert["runner_up_subject_id"] == ""  # a one-subject list has no runner-up
    distances = pd.read_csv(evaluated_run / "distances.csv", keep_default_na=False)
    assert list(distances.columns[:2]) == ["video", "track_id"]
    assert len(distances) == 3  # every face seen, numbers only
    assert math.isclose(distances["distance_1"].min(), alert["distance"], abs_tol=1e-4)


def test_background_footage_calibrates_the_cuts_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    """Footage of the site on an ordinary day: its faces join the run's in calibrating
    each subject's cut, and it is neither alerted on, recorded, nor kept."""
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path / "alone") == 0
    alone = pd.read_csv(tmp_path / "alone" / "d" / "deployment.csv").iloc[0]
    capsys.readouterr()
    background = ("--background", str(MALE_ONLY), "--background", str(FEMALE_AND_MALE))
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path / "with", options=(*background, "--json")) == 0
    cuts = json.loads(capsys.readouterr().out)["cuts"]
    record = pd.read_csv(tmp_path / "with" / "d" / "deployment.csv").iloc[0]
    assert record["videos"] == 1  # the background is no video of the deployment
    assert record["faces_seen"] == alone["faces_seen"]
    assert cuts["faces"] == alone["calibration_faces"] + cuts["background_faces"]
    assert cuts["background_faces"] == 1  # M1 alone: the scanned clip given again counts once
    assert f"{cuts['background_faces']} of them background" in record["calibration"]
    alerts = pd.read_csv(tmp_path / "with" / "d" / "alerts.csv")
    assert [Path(video).name for video in alerts["video"]] == [FEMALE_AND_MALE.name]
    assert len(list((tmp_path / "with" / "d" / "snapshots").iterdir())) == 1
    assert (
        scan_cli(FEMALE_AND_MALE, out=tmp_path / "bad", options=("--background", str(tmp_path / "none"))) == 1
    )
    assert f"--background: input not found: {tmp_path / 'none'}" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "d").exists()
