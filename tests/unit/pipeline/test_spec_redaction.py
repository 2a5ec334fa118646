"""The spec loader's messages never repeat a webhook URL or header value it refuses (they may hold a token)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwise.pipeline.loader import SpecError, load_pipeline


def test_a_refused_webhook_url_is_not_echoed_by_the_spec_loader(tmp_path: Path) -> None:
    """Setup: a pipeline file whose webhook URL (carrying a token) is not a valid URL. Invariant: the
    SpecError names the field and the problem but not the URL nor its token."""
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "name: p\nsource: {topic: t, schema: 'a STRING, event_time LONG'}\n"
        "sinks:\n  - {type: webhook, url: 'https://hooks example.com/x?token=tok-1234567'}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_pipeline(spec)
    assert "sinks[0].webhook.url" in str(caught.value) and "tok-1234567" not in str(caught.value)
