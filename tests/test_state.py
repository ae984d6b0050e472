"""The deployment's state in its SQLite store: moved from the JSON layout of earlier
versions, changed in transactions, and leaving no trace of what a purge deletes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FEMALE_AND_MALE, MALE_ONLY, scan_cli, to_legacy_layout

from lfr_batch.cli import main
from lfr_batch.records.state import DeploymentState


def test_a_deployment_from_before_the_store_is_moved_into_it(tmp_path: Path, walk_video: Path) -> None:
    assert scan_cli(walk_video, MALE_ONLY, out=tmp_path, options=("--workers", "1")) == 0
    folder = tmp_path / "d"
    paths = DeploymentState(folder).paths
    reviews = {"A00001": {"outcome": "true_confirmed", "reviewer": "PC 1", "notes": "", "engagement": ""}}
    records, settings = to_legacy_layout(folder, reviews)

    # The next scan reads it, finds both videos scanned, and keeps the review.
    assert scan_cli(walk_video, MALE_ONLY, out=tmp_path, options=("--workers", "1")) == 0
    moved = DeploymentState(folder)
    assert {sha: record.to_json() for sha, record in moved.records.items()} == records
    assert moved.reviews() == reviews
    assert len(moved.settings["runs"]) == len(settings["runs"]) + 1
    # The JSON copies are gone: a purge must leave no copy of what it deletes.
    assert not paths.legacy_settings.exists()
    assert not paths.legacy_reviews.exists()
    assert not list(paths.legacy_records.glob("*.json"))


def test_a_purged_alert_leaves_no_bytes_in_the_store(tmp_path: Path, walk_video: Path) -> None:
    assert scan_cli(walk_video, out=tmp_path, options=("--workers", "1")) == 0
    store = DeploymentState(tmp_path / "d").paths.store
    assert b"snapshots/A00001.jpg" in store.read_bytes()
    # The walk was filmed on 2026-11-26 (its file name): older than an hour.
    assert main(["purge", str(tmp_path), "--older-than", "1h", "--yes"]) == 0
    assert DeploymentState(tmp_path / "d").alerts() == []
    data = store.read_bytes()
    assert b"snapshots/A00001.jpg" not in data
    assert b"intel_actor_f1" not in data


def test_changes_in_one_transaction_reach_the_disk_together_or_not_at_all(tmp_path: Path) -> None:
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=tmp_path, options=("--workers", "1")) == 0
    state = DeploymentState(tmp_path / "d")
    before = {sha: record.to_json() for sha, record in state.records.items()}
    first, second = state.ordered()

    def killed_half_way() -> None:
        with state.transaction():
            state.replace_record(replace(first, faces_seen=99))
            state.save_reviews({"A00001": {"outcome": "false_confirmed"}})
            raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        killed_half_way()
    again = DeploymentState(tmp_path / "d")
    assert {sha: record.to_json() for sha, record in again.records.items()} == before
    assert again.reviews() == {}
    with state.transaction():
        state.replace_record(replace(second, faces_seen=98))
    assert DeploymentState(tmp_path / "d").records[second.sha256].faces_seen == 98
