"""The data fingerprint stage (`always_changed`) and what the results check counts as stale."""

from __future__ import annotations

from pipelines import repro


def test_stale_stages_fingerprint_alone_is_not_stale_but_what_it_feeds_is():
    # `dvc status --json` of a fresh clone: the fingerprint is "always changed" and its
    # uncached output missing; nothing else but missing outputs
    fresh = {"fingerprint": [{"changed outs": {"data/fingerprint.json": "deleted"}},
                             "always changed"],
             "ingest": [{"changed deps": {"data/fingerprint.json": "deleted"}},
                        {"changed outs": {"data/raw.parquet": "not in cache"}}]}
    assert repro.always_changed(fresh) == ("fingerprint",)
    assert repro.stale_stages(fresh) == ()
    # after the fingerprint ran on a changed file, ingest's dependency is modified: stale
    changed = {"fingerprint": ["always changed"],
               "ingest": [{"changed deps": {"data/fingerprint.json": "modified"}}]}
    assert repro.stale_stages(changed) == ("ingest",)
