"""The deployment state's store: SQLite (lfr-batch's) against one JSON file per video
(the layout before it), side by side in one run.

    .venv/bin/python benchmarks/state_store.py [--videos 100 1000 10000]

For a deployment of N videos (two alerts each, as a busy nightly sweep holds), it
times what the commands do to the state: a scan committing each video as it
finishes, any command opening the deployment, one review answer saved with 2N
answers held, and a purge of half the alerts; and the space the state takes.
Both stores write with fsync (write_atomic for the files, synchronous=FULL for
SQLite), on this machine's disk.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from common import machine

from lfr_batch.files import write_atomic
from lfr_batch.records.state import DeploymentState, Finding, VideoRecord


def video_record(number: int) -> VideoRecord:
    alerts = [
        Finding(
            alert_id=f"A{2 * number + k + 1:05d}",
            track_id=k,
            first_seen_s=1.0 + k,
            last_seen_s=3.0 + k,
            best_frame=40 + k,
            best_time_s=1.6 + k,
            subject_id=f"S{number % 500:04d}",
            subject_name=f"Subject {number % 500}",
            category="wanted by the courts",
            distance=0.38,
            top=100,
            right=180,
            bottom=180,
            left=100,
            snapshot=f"snapshots/A{2 * number + k + 1:05d}.jpg",
        )
        for k in range(2)
    ]
    return VideoRecord(
        sha256=f"{number:064x}",
        video=f"/footage/cam{number % 8}/clip_{number:06d}.mp4",
        sequence=number + 1,
        status="ok",
        start=datetime(2026, 11, 26, 14, tzinfo=UTC),
        duration_s=600.0,
        fps=25.0,
        width=1280,
        height=720,
        frames_decoded=15000,
        frames_analysed=3000,
        faces_seen=40,
        faces_seen_by_bin=[1] * 300,
        scanned_at=datetime(2026, 11, 27, tzinfo=UTC),
        alerts=alerts,
    )


class JsonFiles:
    """The layout before SQLite: settings.json, reviews.json, videos/<sha256>.json."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def commit(self, record: VideoRecord) -> None:
        write_atomic(self.folder / "videos" / f"{record.sha256}.json", json.dumps(record.to_json()).encode())

    def open(self) -> int:
        return len(
            [
                VideoRecord.from_json(json.loads(p.read_text()))
                for p in (self.folder / "videos").glob("*.json")
            ]
        )

    def save_reviews(self, reviews: dict) -> None:
        write_atomic(self.folder / "reviews.json", json.dumps(reviews).encode())

    def save_answer(self, reviews: dict, finding_id: str, entry: dict) -> None:
        self.save_reviews({**reviews, finding_id: entry})  # reviews.json is rewritten whole

    def purge_half(self, records: list[VideoRecord]) -> None:
        for record in records[::2]:
            self.commit(replace(record, alerts=[]))
        self.save_reviews({})


class Sqlite:
    def __init__(self, folder: Path) -> None:
        self.state = DeploymentState(folder)
        self.state.start({}, {}, {})

    def commit(self, record: VideoRecord) -> None:
        self.state.commit(record)

    def open(self) -> int:
        return len(DeploymentState(self.state.deployment_dir).records)

    def save_reviews(self, reviews: dict) -> None:
        self.state.save_reviews(reviews)

    def save_answer(self, reviews: dict, finding_id: str, entry: dict) -> None:
        self.state.save_review(finding_id, entry)

    def purge_half(self, records: list[VideoRecord]) -> None:
        with self.state.transaction():
            for record in records[::2]:
                self.state.replace_record(replace(record, alerts=[]))
            self.state.save_reviews({})


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    print(machine())
    print(
        f"{'videos':>7} {'store':>10} {'commit ms':>10} {'open s':>8} {'review ms':>10} "
        f"{'purge s':>8} {'size MiB':>9}"
    )
    for count in args.videos:
        records = [video_record(number) for number in range(count)]
        reviews = {
            alert.alert_id: {
                "outcome": "true_confirmed",
                "engagement": "arrest",
                "reviewer": "PC 1",
                "notes": "",
            }
            for record in records
            for alert in record.alerts
        }
        for name, store_type in (("json files", JsonFiles), ("sqlite", Sqlite)):
            with tempfile.TemporaryDirectory() as temporary:
                folder = Path(temporary) / "d"
                (folder / "videos").mkdir(parents=True)
                store = store_type(folder)
                began = time.perf_counter()
                for record in records:
                    store.commit(record)
                commit_ms = (time.perf_counter() - began) / count * 1000
                began = time.perf_counter()
                assert store.open() == count
                open_s = time.perf_counter() - began
                store.save_reviews(reviews)
                answer = {**reviews["A00001"], "notes": "seen again on cam 2"}
                began = time.perf_counter()
                store.save_answer(reviews, "A00001", answer)  # one answer, as `review` saves each
                review_ms = (time.perf_counter() - began) * 1000
                began = time.perf_counter()
                store.purge_half(records)
                purge_s = time.perf_counter() - began
                print(
                    f"{count:>7} {name:>10} {commit_ms:>10.2f} {open_s:>8.3f} {review_ms:>10.1f} "
                    f"{purge_s:>8.3f} {size(folder) / 2**20:>9.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
