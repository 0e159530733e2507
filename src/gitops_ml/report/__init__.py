"""The pull-request report: diffs against the baseline, gates, charts and rendering (pure logic)."""
