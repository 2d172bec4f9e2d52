"""Proof 2, removal leaves nothing: a snapshot of a host (tests/reliability/snapshot.py) taken
before converge equals the one taken after converge + removal (`*_state: absent`), for a real
server with each of the four methods (one lab, re-converged per method) and for a director.

The firewalld method starts and enables firewalld (lvs_redirect's firewalld backend needs it);
removal leaves the firewall running, as it should (stopping an operator's firewall would be
worse). So its pre-state is a host whose firewalld already runs, enabled, as an operator's
would: everything the role adds inside firewalld (direct rules, zone ports, runtime and
permanent) must be gone again, and a zone port the operator had opened before, one the role's
services list too, must still be open."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from lab_fixture import lab_up  # noqa: E402
import snapshot  # noqa: E402

LAB_NAME = os.environ.get('LVSDR_REL_REMOVAL_LAB', 'rel-removal')
METHODS = ['sysctl', 'arptables', 'iptables', 'firewalld']


@pytest.fixture(scope='module')
def lab():
    with lab_up(LAB_NAME, '--realservers', '1', '--directors', '1', '--no-client') as up:
        yield up


def converge(lab, limit, *extra):
    run = snapshot.site(lab, '--limit', limit, *[a for e in extra for a in ('-e', e)])
    assert run.returncode == 0, run.stdout[-6000:]
    return run


@pytest.mark.parametrize('method', METHODS)
def test_realserver_removal_restores_the_snapshot(lab, method):
    if method == 'firewalld':
        res = lab.run('rs1', 'sh', '-c', 'systemctl enable --now firewalld >/dev/null 2>&1; '
                      'for i in $(seq 90); do firewall-cmd --state >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1')
        assert res.returncode == 0, 'firewalld did not start: ' + res.stdout
        # The operator's own service already has 80/tcp open, a port the role's services list too: the role
        # must not record it as its own, so removal leaves it open (issue 14 item 10).
        res = lab.run('rs1', 'sh', '-c',
                      'firewall-cmd -q --add-port=80/tcp && firewall-cmd -q --permanent --add-port=80/tcp')
        assert res.returncode == 0, res.stdout
    before = snapshot.take(lab, 'rs1')
    converge(lab, 'rs1', 'lvs_dr_realserver_method=' + method)
    converged = snapshot.take(lab, 'rs1')
    # Sanity: the converge did something this snapshot sees (else equality proves nothing).
    assert snapshot.diff(before, converged), 'converge with %s changed nothing the snapshot sees' % method
    converge(lab, 'rs1', 'lvs_dr_realserver_method=' + method, 'lvs_dr_realserver_state=absent')
    after = snapshot.take(lab, 'rs1')
    snapshot.assert_same(before, after, 'after converge (%s) and removal' % method)


def test_director_removal_restores_the_snapshot(lab):
    before = snapshot.take(lab, 'dir1')
    converge(lab, 'dir1')
    # keepalived fills IPVS on its own schedule after the play has started it.
    assert snapshot.wait_for(lambda: lab.vars['lab_vip4'] in lab.run('dir1', 'ipvsadm', '-S', '-n').stdout, 30), \
        'keepalived set up no IPVS service for the VIP'
    converged = snapshot.take(lab, 'dir1')
    assert 'active=active enabled=enabled' in converged['keepalived_service'], converged
    assert lab.vars['lab_vip4'] in converged['ipvs'], converged['ipvs']
    converge(lab, 'dir1', 'keepalived_director_state=absent')
    after = snapshot.take(lab, 'dir1')
    snapshot.assert_same(before, after, 'after converge and removal of the director')
