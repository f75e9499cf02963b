"""Upload staging (`UploadStaging`): every backend, the same behaviour."""

from __future__ import annotations

from rag.state.base import StateBackend


def test_batches_are_private_listed_and_discarded(state: StateBackend) -> None:
    staging = state.uploads()
    assert staging.batches() == []
    one, two = staging.new_batch(), staging.new_batch()
    assert one != two and one.is_dir() and two.is_dir()
    assert one.stat().st_mode & 0o077 == 0  # nobody else reads an upload
    (one / "0000-a.txt").write_bytes(b"bytes waiting for their job")
    assert sorted(staging.batches()) == sorted([one, two])
    assert state.uploads().batches() == staging.batches()  # another handle sees them
    staging.discard(one)
    staging.discard(one)  # idempotent
    assert staging.batches() == [two] and not one.exists()
