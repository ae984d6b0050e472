from __future__ import annotations

import os
import pickle
import re
import struct
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PHOTOS, SAMPLE_PHOTOS, blank_image

from lfr_batch.errors import WatchlistError
from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.photos import jpeg_round_trip, load_photo
from lfr_batch.vision.references import one_face
from lfr_batch.watchlist.builder import build_watchlist
from lfr_batch.watchlist.model import CATEGORIES, Subject, Watchlist, normalise_category
from lfr_batch.watchlist.store import load_watchlist, save_watchlist, to_payload


def copy_photo(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 Exif segment holding only an Orientation tag after SOI."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_build_reads_subjects_csv_and_every_photo(two_subject_watchlist: Watchlist) -> None:
    watchlist = two_subject_watchlist
    assert [s.subject_id for s in watchlist.subjects] == ["f1", "m1"]
    # each photo gives its own encoding and its footage view's, from the same photo
    assert watchlist.encodings.shape == (12, 128)
    assert watchlist.photos_per_subject().tolist() == [3, 3]
    assert watchlist.encoding_footage_view.tolist() == [False, True] * 6
    assert watchlist.encoding_source[:2] == ["f1/1.png", "f1/1.png"]
    assert len(set(watchlist.encoding_photo().tolist())) == 6
    f1, m1 = watchlist.subjects
    assert f1.category == CATEGORIES["wanted"]
    assert (f1.reason, f1.expires) == ("warrant 123", date(2099, 1, 1))
    assert m1.category == "Risk of harm to self or others"
    assert m1.photo_jpeg.startswith(b"\xff\xd8")  # a small reference crop for review
    assert watchlist.models["encoder"] == "dlib_face_recognition_resnet_model_v1"


def test_build_rejects_each_bad_photo_with_its_reason(tmp_path: Path) -> None:
    source = tmp_path / "src"
    copy_photo(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png", source / "f1" / "good.png")
    blank_image((source / "f1").joinpath("blank.png"))
    (source / "f1" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (source / "f1" / "notes.txt").write_text("hello")
    two = np.hstack([load_photo(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png")] * 2)
    cv2.imwrite(str(source / "f1" / "two.png"), cv2.cvtColor(two, cv2.COLOR_RGB2BGR))
    blank_image(source / "stray.png")
    blank_image(source / "nobody" / "empty.png") if (source / "nobody").mkdir() is None else None
    os.mkfifo(source / "f1" / "pipe.png")  # which a photo reader would wait on for ever
    (source / "f1" / "gone.png").symlink_to(source / "f1" / "nowhere.png")

    result = build_watchlist(source)
    reasons = {p.path.name: p.reason for p in result.rejected}
    assert reasons == {
        "pipe.png": "not a regular file (a pipe, a device, or a link that leads nowhere)",
        "gone.png": "not a regular file (a pipe, a device, or a link that leads nowhere)",
        "blank.png": "no face found",
        "broken.jpg": "not a readable image (corrupt or unsupported)",
        "notes.txt": "not a supported photo type (.txt)",
        "two.png": "2 faces found; a reference photo must show one",
        "stray.png": "not inside a subject folder",
        "empty.png": "no face found",
    }
    assert result.subjects_without_photos == ["nobody"]
    assert [s.subject_id for s in result.watchlist.subjects] == ["f1"]
    assert result.accepted_photos == 1


def test_build_with_no_usable_photo_is_an_error(tmp_path: Path) -> None:
    blank_image(tmp_path / "a" / "x.png") if (tmp_path / "a").mkdir() is None else None
    with pytest.raises(WatchlistError, match="no usable reference photo"):
        build_watchlist(tmp_path)
    with pytest.raises(WatchlistError, match="not found"):
        build_watchlist(tmp_path / "missing")


def test_photos_of_every_common_kind_load_upright(tmp_path: Path) -> None:
    grey = load_photo(PHOTOS / "orl_s01" / "1.png")
    assert grey.shape == (112, 92, 3)

    rgb = load_photo(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png")
    rgba = np.dstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), np.full(rgb.shape[:2], 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    np.testing.assert_array_equal(load_photo(tmp_path / "rgba.png"), rgb)

    upright = load_photo(PHOTOS / "barack_obama" / "5.jpg")  # 320×240
    sideways = np.ascontiguousarray(np.rot90(upright, 1))  # as a phone stores a portrait shot
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(sideways, cv2.COLOR_RGB2BGR))
    assert ok
    (tmp_path / "rotated.jpg").write_bytes(with_exif_orientation(jpeg.tobytes(), 6))
    assert load_photo(tmp_path / "rotated.jpg").shape == upright.shape


def test_build_accepts_greyscale_rgba_and_exif_rotated_photos(tmp_path: Path) -> None:
    source = tmp_path / "src"
    copy_photo(PHOTOS / "orl_s01" / "1.png", source / "grey" / "1.png")
    rgb = load_photo(PHOTOS / "barack_obama" / "5.jpg")
    sideways = np.ascontiguousarray(np.rot90(rgb, 1))
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(sideways, cv2.COLOR_RGB2BGR))
    (source / "rotated").mkdir()
    (source / "rotated" / "1.jpg").write_bytes(with_exif_orientation(jpeg.tobytes(), 6))
    bgra = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2BGRA)
    (source / "rgba").mkdir()
    cv2.imwrite(str(source / "rgba" / "1.png"), bgra)
    result = build_watchlist(source, upsample=2)
    assert result.rejected == []
    assert [s.subject_id for s in result.watchlist.subjects] == ["grey", "rgba", "rotated"]


def test_save_and_load_round_trip(tmp_path: Path, two_subject_watchlist: Watchlist) -> None:
    path = tmp_path / "lists" / "w.pkl"
    save_watchlist(two_subject_watchlist, path)
    loaded = load_watchlist(path)
    assert loaded.subjects == two_subject_watchlist.subjects
    np.testing.assert_array_equal(loaded.encodings, two_subject_watchlist.encodings)
    np.testing.assert_array_equal(loaded.encoding_footage_view, two_subject_watchlist.encoding_footage_view)
    assert loaded.created == two_subject_watchlist.created
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([True], "encodings and their footage-view flags differ in number"),
        (["yes"] * 12, "encoding_footage_view must be a list of true/false"),
        ([1, 0] * 6, "encoding_footage_view must be a list of true/false"),
        ("True", "encoding_footage_view must be a list of true/false"),
    ],
)
def test_bad_footage_view_flags_are_refused_in_one_line(
    tmp_path: Path, two_subject_watchlist: Watchlist, flags: object, message: str
) -> None:
    payload = to_payload(two_subject_watchlist)
    payload["encoding_footage_view"] = flags
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(WatchlistError, match=message) as refused:
        load_watchlist(path)
    assert "\n" not in str(refused.value)


def test_a_list_saved_before_footage_views_loads_with_photo_rows_only(
    tmp_path: Path, two_subject_watchlist: Watchlist
) -> None:
    payload = to_payload(two_subject_watchlist)
    del payload["encoding_footage_view"]
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(payload))
    loaded = load_watchlist(path)
    assert not loaded.encoding_footage_view.any()
    assert loaded.photos_per_subject().tolist() == [6, 6]


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"encodings": [Exploit(marker)], "names": ["x"]}))
    with pytest.raises(WatchlistError, match=r"refusing watchlist .*evil\.pkl: .*(posix|os)\.system"):
        load_watchlist(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "not a readable pickle"),
        (b"\x80\x05garbage", "not a readable pickle"),
        (pickle.dumps([1, 2, 3]), "holds a list"),
        (pickle.dumps({"something": 1}), "neither an lfr-batch watchlist"),
        (pickle.dumps({"encodings": [np.zeros(3)], "names": ["a"]}), "not 128-d"),
        (pickle.dumps({"format": "lfr-batch-watchlist", "format_version": 99}), "version 99"),
    ],
)
def test_malformed_watchlists_are_refused_with_a_reason(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "w.pkl"
    path.write_bytes(payload)
    with pytest.raises(WatchlistError, match=message):
        load_watchlist(path)


def test_face_recognition_layout_loads(tmp_path: Path, two_subject_watchlist: Watchlist) -> None:
    rows = list(two_subject_watchlist.encodings[~two_subject_watchlist.encoding_footage_view])
    names = ["Ann", "Ann", "Ann", "Bob", "Bob", "Bob"]
    path = tmp_path / "encodings.pickle"
    path.write_bytes(pickle.dumps({"encodings": rows, "names": names}))
    loaded = load_watchlist(path)
    assert loaded.legacy_format
    assert [s.subject_id for s in loaded.subjects] == ["Ann", "Bob"]
    assert loaded.photos_per_subject().tolist() == [3, 3]
    # protocol 2, as Python 2-era scripts wrote them, stores bytes through _codecs
    path.write_bytes(pickle.dumps({"encodings": rows[:1], "names": ["Ann"]}, protocol=2))
    assert load_watchlist(path).size == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a subject has no id"),
        (None, "a subject has no id"),
        ("M\udcfcller", re.escape("subject M\\udcfcller holds text that is not UTF-8")),
    ],
)
def test_a_face_recognition_name_no_report_could_hold_is_refused(
    tmp_path: Path, two_subject_watchlist: Watchlist, name: str | None, message: str
) -> None:
    row = two_subject_watchlist.encodings[0]
    path = tmp_path / "encodings.pickle"
    path.write_bytes(pickle.dumps({"encodings": [row, row], "names": ["Ann", name]}))
    with pytest.raises(WatchlistError, match=message):
        load_watchlist(path)


def test_a_subject_folder_not_named_in_utf8_is_refused_before_a_photo_is_read(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / os.fsdecode(b"M\xfcller")).mkdir(parents=True)
    (source / "ann").mkdir()
    with pytest.raises(WatchlistError, match=r"subject folder .*M\\xfcller is not named in UTF-8"):
        build_watchlist(source)


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("subject_id,name,category\na,A,pirate\n", "line 2: unknown category 'pirate'"),
        (
            "subject_id,expires\na,next tuesday\n",
            "line 2: expiry 'next tuesday' is not an ISO 8601",
        ),
        ("subject_id\na\na\n", "line 3: subject_id 'a' appears twice"),
        ("name,category\nA,wanted\n", "header must name subject_id"),
        ("subject_id,colour\na,red\n", "unknown column"),
    ],
)
def test_bad_subjects_csv_is_refused_with_its_line(tmp_path: Path, csv_text: str, message: str) -> None:
    copy_photo(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png", tmp_path / "a" / "1.png")
    (tmp_path / "subjects.csv").write_text(csv_text)
    with pytest.raises(WatchlistError, match=message):
        build_watchlist(tmp_path)


def test_category_spellings() -> None:
    assert normalise_category("Wanted by the courts") == CATEGORIES["wanted"]
    assert normalise_category("  missing ") == CATEGORIES["risk_of_harm"]
    assert normalise_category("bail breach") == CATEGORIES["bail_breach"]
    assert normalise_category("") == ""


def test_watchlist_rejects_inconsistent_arrays() -> None:
    with pytest.raises(WatchlistError, match="names a subject"):
        Watchlist([Subject("a")], np.zeros((1, 128)), np.array([3]))
    with pytest.raises(WatchlistError, match="repeat"):
        Watchlist([Subject("a"), Subject("a")], np.zeros((0, 128)), np.array([], dtype=int))


def shaken(photo: Path, face_px: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A photo as a poorer camera than the footage view's would show it: the face shrunk
    to ``face_px``, smeared sideways by motion and compressed hard."""
    image, box, _encoding = one_face(photo, face_detector("hog", upsample=1), FaceEncoder())
    scale = face_px / (box[2] - box[0])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    smear = np.zeros((5, 5), np.float32)
    smear[2, :] = 0.2
    shown = jpeg_round_trip(cv2.filter2D(small, -1, smear), quality=50)
    return shown, np.round(box * scale).astype(np.int32)


def test_footage_views_bring_a_subject_nearer_a_small_soft_face_of_them(tmp_path: Path) -> None:
    """Each photo of three people left out in turn, shown small, smeared and compressed
    (not as the footage view is made): it lies nearer its subject when the subject's other
    photos carry their footage views."""
    people = {
        "f1": sorted((SAMPLE_PHOTOS / "intel_actor_f1").glob("*.png")),
        "m1": sorted((PHOTOS / "intel_actor_m1").glob("*.png")),
        "s01": sorted((PHOTOS / "orl_s01").glob("*.png")),
    }
    encoder = FaceEncoder()
    nearer = []
    for subject, photos in people.items():
        for left_out in photos:
            source = tmp_path / f"{subject}-{left_out.stem}"
            for photo in photos:
                if photo != left_out:
                    copy_photo(photo, source / subject / photo.name)
            image, box = shaken(left_out)
            probe = encoder(image, box[None])[0]
            distance = {}
            for footage_views in (False, True):
                watchlist = build_watchlist(source, footage_views=footage_views).watchlist
                distance[footage_views] = np.linalg.norm(watchlist.encodings.mean(axis=0) - probe)
            nearer.append(distance[False] - distance[True])
    assert len(nearer) == 8
    assert min(nearer) > 0
    assert np.mean(nearer) > 0.02
