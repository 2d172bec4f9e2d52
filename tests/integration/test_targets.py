"""Every module for real, in a privileged lab container: each target runs its quartets
(check, apply, apply again, check again), absent twice, bad input, and leaves the host as found."""
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = sorted(os.listdir(os.path.join(HERE, 'targets')))


@pytest.mark.parametrize('target', TARGETS)
def test_target(lab, target):
    result = lab.playbook(os.path.join(HERE, 'target.yml'), '-e', 'target=%s' % target)
    assert result.returncode == 0, result.stdout[-8000:]
