"""Upload staging (`UploadStaging`): every backend, the same behaviour."""

from __future__ import annotations

from rag.state.base import StateBackend


def test_batches_are_written_read_back_listed_and_discarded(state: StateBackend) -> None:
    staging = state.uploads()
    assert staging.batches() == []
    one, two = staging.new_batch(), staging.new_batch()
    assert one != two
    big = bytes(range(256)) * 12_000  # 3 MB: several parts where the backend splits
    writer = staging.writer(one, "0000-a.txt")
    writer.write(b"bytes waiting ")
    writer.write(b"for their job")
    writer.close()
    writer = staging.writer(one, "0001-big.bin")
    for start in range(0, len(big), 700_000):
        writer.write(big[start : start + 700_000])
    writer.close()
    staging.writer(one, "0002-empty.txt").close()
    aborted = staging.writer(one, "0003-cut.txt")
    aborted.write(b"cut off")
    aborted.abort()
    assert sorted(staging.batches()) == sorted([one, two])
    with state.uploads().open(one) as folder:  # another handle, as another worker
        assert folder.stat().st_mode & 0o077 == 0  # nobody else reads an upload
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["0000-a.txt", "0001-big.bin", "0002-empty.txt"]
        assert (folder / "0000-a.txt").read_bytes() == b"bytes waiting for their job"
        assert (folder / "0001-big.bin").read_bytes() == big
        assert (folder / "0002-empty.txt").read_bytes() == b""
    staging.discard(one)
    staging.discard(one)  # idempotent
    assert staging.batches() == [two]
    with staging.open(one) as gone:
        assert list(gone.iterdir()) == []
