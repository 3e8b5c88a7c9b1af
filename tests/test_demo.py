"""The demo shows the study's findings on planted truth (``ssl-ieeg-demo``): each planted
class is recovered by the model it was planted from, the models' predictions correlate where
they share, and the shared set holds the shared electrodes' explained variance."""

from __future__ import annotations

import dataclasses

import pytest

from bids_app.demo import run_demo
from bids_app.synthetic import read_ground_truth
from bids_app.synthetic.recovery import planted_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = run_demo(out)
    return out, code


def test_demo_recovers_every_planted_class(demo):
    out, code = demo
    checks = planted_checks(read_ground_truth(out / "bids"), out / "derivatives" / "ssl-ieeg",
                            "listen")
    assert [c.text for c in checks if not c.passed] == []
    assert code == 0
    assert len(checks) == 11


def test_the_checks_fail_when_the_truth_is_swapped(demo):
    """Label the speech electrodes as language ones and back: the checks must notice."""
    out, _ = demo
    swap = {"speech": "language", "language": "speech"}
    truth = {subject: dataclasses.replace(gt, sources={ch: swap.get(src, src)
                                                       for ch, src in gt.sources.items()})
             for subject, gt in read_ground_truth(out / "bids").items()}
    failed = [c.text for c in planted_checks(truth, out / "derivatives" / "ssl-ieeg", "listen")
              if not c.passed]
    assert any("speech electrodes predicted by wav2vec2" in text for text in failed)
    assert any("layer profile peaks" in text for text in failed)
