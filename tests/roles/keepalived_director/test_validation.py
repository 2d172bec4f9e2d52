"""Bad variables fail in argument validation or in the role's assert, before anything is
installed or written: in check mode with packages and service managed (the package list
names a package that does not exist, so reaching the install task would fail differently),
and for real with packages and service unmanaged (the configuration path must stay absent).
Also: keepalived_director_state=absent removes only a file the role wrote.
"""
import os

import pytest

from .conftest import bad_cases

BAD = {case['name']: case for case in bad_cases()}
VALIDATION_TASKS = (
    "Validating arguments against arg spec 'main'",
    'Check ranges, addresses and references of the keepalived_director variables',
)


def failure_text(outcome):
    msg = outcome['msg']
    if isinstance(msg, list):
        # The assert reports one problem per item.
        assert all('\n' not in str(item) for item in msg), msg
        msg = '\n'.join(str(item) for item in msg)
    return '\n'.join([msg] + [str(error) for error in outcome['argument_errors']])


def test_at_least_six_bad_cases():
    assert len(BAD) >= 6


@pytest.mark.parametrize('mode', ['check', 'apply'])
@pytest.mark.parametrize('name', sorted(BAD))
def test_bad_variables_fail_early(director_run, name, mode):
    outcome = director_run.result('%s.%s.json' % (name, mode))
    assert outcome['failed'], 'the role accepted the variables of %s' % name
    assert outcome['task'].startswith(VALIDATION_TASKS), 'failed in %r, not in validation' % outcome['task']
    text = failure_text(outcome)
    assert BAD[name]['message'] in text, text
    assert not os.path.exists(director_run.path('%s.%s.conf' % (name, mode)))


def test_absent_removes_own_file(director_run):
    assert not os.path.exists(director_run.path('absent_ours.conf'))


def test_absent_keeps_foreign_file(director_run):
    assert os.path.exists(director_run.path('absent_foreign.conf'))
