from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FEMALE_AND_MALE, PHOTOS, SAMPLE_VIDEOS, STRANGERS_WALKING, write_corrupt_video

from lfr_batch.errors import VideoError
from lfr_batch.vision.encodings import face_landmarks, face_sharpness
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.photos import crop_face, load_photo
from lfr_batch.vision.synthetic import MovingBackground, paste, write_video
from lfr_batch.vision.video import VideoReader, find_videos, to_rgb


def test_find_videos_recurses_sorted_and_skips_other_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("b/2.mp4", "a/deep/1.MKV", "a/notes.txt", "a/0.avi"):
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_videos([tmp_path])]
    assert found == ["a/0.avi", "a/deep/1.MKV", "b/2.mp4"]


def test_find_videos_takes_an_explicit_file_once_and_rejects_missing(tmp_path: Path) -> None:
    clip = tmp_path / "clip.dav"
    clip.write_bytes(b"x")
    assert find_videos([clip, clip]) == [clip]
    with pytest.raises(VideoError, match="not found"):
        find_videos([tmp_path / "missing.mp4"])


def test_all_bundled_clips_open() -> None:
    for path in find_videos([SAMPLE_VIDEOS]):
        with VideoReader(path) as reader:
            assert reader.info.fps > 0
            assert reader.info.width == 480


def test_sampling_picks_frames_at_the_requested_rate(tmp_path: Path) -> None:
    video = write_video(tmp_path / "plain.avi", np.zeros((64, 96, 3), np.uint8), [], duration_s=2.0, fps=25)
    with VideoReader(video) as reader:
        frames = list(reader.frames(sample_fps=5))
        assert reader.frames_decoded == 50
        assert reader.duration_s == pytest.approx(2.0)
    assert [f.index for f in frames] == list(range(0, 50, 5))
    assert [f.time_s for f in frames] == pytest.approx([i * 0.2 for i in range(10)])


def test_sampling_above_the_video_rate_takes_every_frame() -> None:
    with VideoReader(FEMALE_AND_MALE) as reader:
        frames = list(reader.frames(sample_fps=100))
    assert [f.index for f in frames] == list(range(58))
    assert frames[1].time_s == pytest.approx(0.08)  # 12.5 fps, from the stream's timestamps
    assert frames[0].image.shape == (270, 480, 3)


def test_corrupt_and_non_video_files_raise_video_error(tmp_path: Path) -> None:
    with pytest.raises(VideoError):
        VideoReader(write_corrupt_video(tmp_path / "bad.mp4"))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match=r"notes\.mp4"):
        VideoReader(text)
    with pytest.raises(VideoError, match="no such file"):
        VideoReader(tmp_path / "absent.mp4")


def test_to_rgb_handles_grey_bgra_and_16_bit() -> None:
    assert to_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 0] = 255  # blue in OpenCV's order
    assert to_rgb(bgra)[0, 0].tolist() == [0, 0, 255]
    assert to_rgb(np.full((4, 5), 1000, np.uint16)).dtype == np.uint8


def test_a_moving_background_mirrors_a_smaller_clip_out_to_the_frame() -> None:
    """The benchmarks' 1080p crowd plays its clip at 720p in the middle of the frame,
    so the clip's own people stay too small to be found; the rest mirrors it."""
    plain = MovingBackground(STRANGERS_WALKING, 320, 180, noise=0.0)
    mirrored = MovingBackground(STRANGERS_WALKING, 480, 270, noise=0.0, clip_size=(320, 180))
    try:
        clip, frame = next(plain), next(mirrored)
    finally:
        plain.close()
        mirrored.close()
    assert frame.shape == (270, 480, 3)
    np.testing.assert_array_equal(frame[45:225, 80:400], clip)
    np.testing.assert_array_equal(frame[45:225, 79::-1], clip[:, :80])  # the left edge, mirrored
    with pytest.raises(ValueError, match="does not fit"):
        MovingBackground(STRANGERS_WALKING, 320, 180, clip_size=(480, 270))


def test_a_pasted_face_softened_as_a_camera_would_measures_softer() -> None:
    """benchmarks/crowd.py's soft scene blurs pasted photos until the quality gate's
    sharpness matches faces in real footage; without blur a paste is the plain resize."""
    photo = load_photo(PHOTOS / "intel_actor_m1" / "1.png")
    face = crop_face(photo, face_detector()(photo).boxes[0], margin=0.35)
    detector = face_detector("blazeface")
    sharpness = {}
    for blur in (0.0, 1.0):
        frame = np.full((360, 640, 3), 100, np.uint8)
        paste(frame, face, (320.0, 180.0), 90, blur)
        boxes = detector(frame).boxes
        assert len(boxes) == 1
        sharpness[blur] = face_sharpness(frame, face_landmarks(frame, boxes))[0]
    assert sharpness[1.0] < 0.6 * sharpness[0.0]
    plain = np.zeros((360, 640, 3), np.uint8)
    paste(plain, face, (320.0, 180.0), 90)
    resized = cv2.resize(face, (int(face.shape[1] * 90 / face.shape[0]), 90), interpolation=cv2.INTER_AREA)
    top, left = 180 - 45, round(320 - resized.shape[1] / 2)
    np.testing.assert_array_equal(plain[top : top + 90, left : left + resized.shape[1]], resized)
