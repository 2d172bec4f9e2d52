"""keepalived.conf rendered through the role for every case in cases/*.yml.

Each case is rendered by the role itself (playbook.yml, one ansible-playbook run for all
cases, the template task's own `validate: keepalived -t -f %s` included) and then checked
here: `keepalived -t -f` on the result, key lines, no vrrp_strict, and a second run of the
role that leaves the file untouched.
"""
import subprocess

import pytest

from .conftest import MARKER, render_cases

CASES = render_cases()


def substitute(text, run):
    return text.replace('{{ test_interface }}', run.interface).replace('{{ test_track_interface }}', 'lo')


def stripped_lines(text):
    return [line.strip() for line in text.splitlines()]


def contains_block(lines, block):
    """True if the lines of block appear consecutively (compared stripped) in lines."""
    wanted = stripped_lines(block)
    return any(lines[i:i + len(wanted)] == wanted for i in range(len(lines) - len(wanted) + 1))


@pytest.fixture(params=sorted(CASES), name='case')
def case_fixture(request):
    return request.param, CASES[request.param]


def rendered(run, host):
    outcome = run.result(host + '.render.json')
    assert outcome['ok'], 'the role failed at %r: %s' % (outcome['task'], outcome['result'])
    with open(run.path(host + '.conf')) as handle:
        return outcome, handle.read()


def test_case_passes_keepalived_config_test(director_run, case):
    for host in case[1]['hosts']:
        rendered(director_run, host)
        proc = subprocess.run(['keepalived', '-t', '-f', director_run.path(host + '.conf')],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, '%s: keepalived -t -f failed:\n%s%s' % (host, proc.stdout, proc.stderr)


def test_case_key_lines(director_run, case):
    for host, spec in case[1]['hosts'].items():
        dummy, text = rendered(director_run, host)
        lines = stripped_lines(text)
        assert lines[0] == '#' and MARKER + '.' in text
        assert not any(line.startswith('vrrp_strict') for line in lines), 'vrrp_strict emitted'
        servers = [line for line in lines if line.startswith('virtual_server ')]
        assert lines.count('lb_kind DR') == len(servers), 'every virtual server uses lb_kind DR'
        for block in spec.get('expect', []):
            block = substitute(block, director_run)
            assert contains_block(lines, block), '%s: missing\n%s\n--- in ---\n%s' % (host, block, text)
        for block in spec.get('expect_absent', []):
            block = substitute(block, director_run)
            assert not contains_block(lines, block), '%s: unexpected\n%s\n--- in ---\n%s' % (host, block, text)


def test_case_second_run_leaves_file_alone(director_run, case):
    for host in case[1]['hosts']:
        outcome, dummy = rendered(director_run, host)
        first, second = outcome['first'], outcome['second']
        assert first['exists'] and second['exists']
        assert first['checksum'] == second['checksum']
        assert first['mtime'] == second['mtime'], 'the second run rewrote the file'
        assert first['mode'] == '0640'


def test_suite_duration(director_run):
    """All cases, bad cases included, render in one ansible-playbook run; keep it short."""
    print('ansible-playbook took %.1f s' % director_run.seconds)
    assert director_run.seconds < 120
