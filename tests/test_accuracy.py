"""Calibration, the auto threshold and its warning, the quality gate, and evaluate."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    PHOTOS,
    SAMPLE_PHOTOS,
    SAMPLE_WATCHLIST,
    face_crop,
    scan_cli,
    stored_records,
)

from lfr_batch.cli import main
from lfr_batch.vision.calibration import (
    MIN_PAIRS,
    MISS_GRID,
    REFERENCE_TAIL,
    REFERENCE_TAIL_WITH_FOOTAGE_VIEWS,
    Calibration,
    calibrate,
    fit_tail,
    genuine_miss_shares,
)
from lfr_batch.vision.encodings import MIN_FACE_PX, face_landmarks, good_enough_to_match
from lfr_batch.vision.faces import Detections
from lfr_batch.watchlist import build_watchlist, load_watchlist, save_watchlist


def random_list(subjects: int, photos: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Encodings of people: a centre each, and photos scattered around it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.06, (subjects, 128))
    encodings = np.repeat(centres, photos, axis=0) + rng.normal(0, 0.02, (subjects * photos, 128))
    return encodings, np.repeat(np.arange(subjects), photos)


def test_a_larger_list_gets_a_stricter_auto_threshold() -> None:
    encodings, owner = random_list(200)
    calibration = calibrate(encodings, owner, 200)
    assert calibration.tail.source == "watchlist"
    assert calibration.note == ""
    thresholds = [calibration.auto_threshold(1e-4, size) for size in (1, 10, 100, 1000, 10_000)]
    assert thresholds == sorted(thresholds, reverse=True)
    assert len(set(thresholds)) == len(thresholds)
    # The rate at the auto threshold stays under the target, just.
    for size, threshold in zip((1, 10, 100, 1000, 10_000), thresholds, strict=True):
        assert calibration.expected_false_alert_rate(threshold, size) <= 1e-4
        assert calibration.expected_false_alert_rate(threshold + 0.002, size) > 1e-4
    # A stricter target gives a stricter cut.
    assert calibration.auto_threshold(1e-6, 100) < calibration.auto_threshold(1e-4, 100)


def test_the_tail_fit_extrapolates_below_what_the_pairs_resolve() -> None:
    """Distances drawn from a known normal distribution: the fit recovers it, and the
    share it predicts far below the sample's reach matches the distribution's own."""
    rng = np.random.default_rng(1)
    distances = rng.normal(0.9, 0.08, 50_000)
    tail = fit_tail(distances, "test")
    assert tail is not None
    assert tail.location == pytest.approx(0.9, abs=0.01)
    assert tail.scale == pytest.approx(0.08, abs=0.005)
    # 1e-9 lies 6 standard deviations out, where no sample of 50,000 reaches: the
    # extrapolated share is right within the factor of 3 the benchmark holds it to.
    assert 1 / 3 < tail.share_within(0.9 - 6 * 0.08) / 9.87e-10 < 3
    assert fit_tail(distances[: MIN_PAIRS - 1], "test") is None


def test_expected_rates_against_a_list_follow_the_per_subject_share() -> None:
    encodings, owner = random_list(100)
    calibration = calibrate(encodings, owner, 100)
    share = calibration.tail.share_within(0.5)
    assert calibration.expected_false_alert_rate(0.5, 1) == pytest.approx(share)
    assert calibration.expected_false_alert_rate(0.5, 50) == pytest.approx(1 - (1 - share) ** 50)
    assert calibration.expected_false_alert_rate(5.0, 50) == 1.0


def test_a_list_too_small_to_calibrate_says_so_and_uses_the_reference() -> None:
    encodings, owner = random_list(5)
    calibration = calibrate(encodings, owner, 5)
    assert calibration.tail == REFERENCE_TAIL
    # A list whose subjects carry footage views lies nearer strangers: its own reference.
    views = np.arange(len(owner)) % 2 == 1
    with_views = calibrate(encodings, owner, 5, footage_view=views)
    assert with_views.tail == REFERENCE_TAIL_WITH_FOOTAGE_VIEWS
    assert with_views.auto_threshold(1e-4, 5) < calibration.auto_threshold(1e-4, 5)
    assert f"{MIN_PAIRS} needed" in calibration.note
    assert "--background" in calibration.note
    # Photos of people not on the list make the comparisons a fit needs.
    background, _ = random_list(300, photos=1, seed=2)
    with_background = calibrate(encodings, owner, 5, background=background)
    assert with_background.tail.source == "watchlist+background"
    assert with_background.note == ""


def test_own_photos_missed_come_from_leaving_each_photo_out() -> None:
    encodings, owner = random_list(50)
    calibration = calibrate(encodings, owner, 50)
    assert calibration.miss_share(0.01) == 1.0  # every photo lies further than 0.01 from its others
    assert calibration.miss_share(0.7) == 0.0
    single = calibrate(encodings[::3], owner[::3], 50)
    assert single.miss_share(0.5) is None  # one photo each: nothing to leave out


def test_a_photo_leaves_with_its_footage_view_and_a_footage_view_is_no_probe() -> None:
    photo_a, view_a, photo_b, view_b = np.zeros((4, 128))
    view_a[1] = 0.2
    photo_b[0] = 0.3
    view_b[:2] = (0.3, 0.2)
    encodings = np.stack([photo_a, view_a, photo_b, view_b])
    subject, photo, footage = np.zeros(4, int), np.array([0, 0, 1, 1]), np.array([False, True, False, True])
    # each photo against the other photo and its view: |(0.3, 0.1)| = 0.316 both ways
    shares = dict(zip(MISS_GRID, genuine_miss_shares(encodings, subject, photo, footage), strict=True))
    assert (shares[0.31], shares[0.32]) == (1.0, 0.0)
    # one photo and its view: nothing to leave out
    assert genuine_miss_shares(encodings[:2], subject[:2], photo[:2], footage[:2]) == ()


def test_calibration_round_trips_and_a_malformed_one_is_refused(tmp_path: Path) -> None:
    encodings, owner = random_list(60)
    calibration = calibrate(encodings, owner, 60)
    assert Calibration.from_payload(calibration.to_payload()) == calibration
    watchlist = load_watchlist(SAMPLE_WATCHLIST)
    payload = watchlist.to_payload()
    for broken in (
        {**payload["calibration"], "scale": -1.0},
        {**payload["calibration"], "location": float("nan")},
        {**payload["calibration"], "miss_shares": [2.0] * 101},
        "not a table",
    ):
        path = tmp_path / "broken.pkl"
        path.write_bytes(pickle.dumps({**payload, "calibration": broken}))
        assert main(["watchlist", "info", str(path)]) == 1


def test_an_old_watchlist_without_calibration_is_calibrated_when_loaded(tmp_path: Path) -> None:
    payload = load_watchlist(SAMPLE_WATCHLIST).to_payload()
    del payload["calibration"]
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps(payload))
    assert load_watchlist(path).calibrated.tail == REFERENCE_TAIL_WITH_FOOTAGE_VIEWS
    del payload["encoding_footage_view"]  # older still: photo rows only
    path.write_bytes(pickle.dumps(payload))
    assert load_watchlist(path).calibrated.tail == REFERENCE_TAIL


def test_watchlist_build_with_a_background_and_info_prints_the_table(
    two_subject_source: Path, tmp_path: Path, capsys
) -> None:
    background = tmp_path / "background"
    for person in ("barack_obama", "orl_s01"):
        (background / person).mkdir(parents=True)
        for photo in sorted((PHOTOS / person).iterdir()):
            (background / person / photo.name).write_bytes(photo.read_bytes())
    (background / "notes.txt").write_text("not a photo")
    output = tmp_path / "list.pkl"
    build = ["watchlist", "build", str(two_subject_source), "-o", str(output), "-q"]
    assert main([*build, "--background", str(background)]) == 0
    err = capsys.readouterr().err
    assert "background: not a supported photo type" in err
    watchlist = load_watchlist(output)
    assert watchlist.size == 2  # the background people are not on the list
    assert watchlist.calibrated.tail == REFERENCE_TAIL_WITH_FOOTAGE_VIEWS  # a handful is still too few
    assert main(["watchlist", "info", str(output)]) == 0
    out = capsys.readouterr().out
    assert "calibration: reference" in out
    assert "auto threshold (at most 1 false alert in 10,000 faces seen): 0.386" in out
    assert "false alerts per 10,000 faces seen" in out
    assert main([*build, "--background", str(tmp_path / "none")]) == 1
    assert "background folder not found" in capsys.readouterr().err


def test_auto_is_the_default_and_a_loose_fixed_threshold_warns_once(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path / "auto") == 0
    captured = capsys.readouterr()
    assert "threshold 0.400 (auto)" in captured.out
    assert "looser than" not in captured.err
    assert scan_cli(MALE_ONLY, out=tmp_path / "loose", options=("--threshold", "0.6")) == 0
    captured = capsys.readouterr()
    assert captured.err.count("threshold 0.6 is looser than a false alert rate of 0.0001 allows") == 1
    assert "--threshold auto gives 0.4)" in captured.err
    record = pd.read_csv(tmp_path / "loose" / "d" / "deployment.csv").iloc[0]
    assert record["threshold_mode"] == "fixed"
    assert record["expected_false_alert_rate"] == pytest.approx(10.24, abs=0.01)  # % of faces seen
    assert scan_cli(MALE_ONLY, out=tmp_path / "strict", options=("--threshold", "0.4")) == 0
    assert "looser than" not in capsys.readouterr().err
    # A stricter rate target gives a stricter auto threshold.
    assert scan_cli(MALE_ONLY, out=tmp_path / "rate", options=("--max-false-alert-rate", "1e-6")) == 0
    assert pd.read_csv(tmp_path / "rate" / "d" / "deployment.csv").iloc[0]["threshold"] < 0.400


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--threshold", "loose"), "'loose' is neither 'auto' nor a distance"),
        (("--threshold", "nan"), "threshold nan must lie between 0 and 2"),
        (("--threshold", "2.5"), "threshold 2.5 must lie between 0 and 2"),
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
    return Detections(boxes, np.zeros(len(boxes)))


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
    assert "all: threshold 0.400: 1 of 1 watchlisted appearances found (TPIR 100.0 %)" in out
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
    assert set(table["rule"]) == {"scan", "track mean", "best view"}
    png = (evaluated_run / "det.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "DET curve" in (evaluated_run / "report.html").read_text(encoding="utf-8")


def test_evaluate_per_group_judges_each_alert_against_everyone(
    evaluated_run: Path, tmp_path: Path, capsys
) -> None:
    truth = write_truth(tmp_path / "truth.csv", TRUTH_ROWS)
    groups = tmp_path / "groups.csv"
    groups.write_text("person,group\nf1,women\nm1,men\n", encoding="utf-8")
    assert main(["evaluate", str(evaluated_run), "--truth", str(truth), "--groups", str(groups)]) == 0
    out = capsys.readouterr().out
    assert "women: threshold 0.400: 1 of 1 watchlisted appearances found" in out
    assert "men: threshold 0.400: 0 of 0 watchlisted appearances found (TPIR n/a); 0 of 2 strangers" in out
    table = pd.read_csv(evaluated_run / "evaluation.csv", keep_default_na=False)
    men = table[(table["rule"] == "scan") & (table["group"] == "men")].iloc[0]
    assert men["true_positive_identification_rate"] == ""  # no watchlisted man: no rate, not 0
    assert men["false_positive_identification_rate"] == "0"


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


def test_a_watchlist_saved_and_loaded_keeps_its_calibration(two_subject_source: Path, tmp_path: Path) -> None:
    watchlist = build_watchlist(two_subject_source).watchlist
    save_watchlist(watchlist, tmp_path / "w.pkl")
    assert load_watchlist(tmp_path / "w.pkl").calibration == watchlist.calibration
