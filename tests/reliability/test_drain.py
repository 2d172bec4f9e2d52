"""Proof 5, drain under load: while the client sends a steady stream of HTTP requests to the VIP,
rs2 is drained (lvs_dr_realserver_weight: 0, director re-converged: keepalived_director reads
the weight through the inventory), re-added (weight 1), and a director configuration change
(delay_loop 3 -> 5) is reloaded. Not one request may fail; while drained, rs2 gets none.
keepalived must be reloaded, not restarted (same MainPID throughout)."""
import json
import os
import re
import sys
import tempfile
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from lab_fixture import lab_up  # noqa: E402
import snapshot  # noqa: E402

LAB_NAME = os.environ.get('LVSDR_REL_DRAIN_LAB', 'rel-drain')


@pytest.fixture(scope='module')
def lab():
    with lab_up(LAB_NAME, '--realservers', '2', '--directors', '1') as up:
        run = snapshot.site(up, '-e', 'lvs_dr_realserver_method=sysctl')
        assert run.returncode == 0, run.stdout[-6000:]
        assert snapshot.wait_until_served(up), 'HTTP through the VIP does not answer after the converge'
        yield up


def converge_director(lab, tmp, weight, delay_loop=None):
    """Re-converge dir1 with rs2's weight set in an extra inventory source (a host var, as an
    operator's host_vars/rs2.yml would) and, optionally, every virtual server's delay_loop."""
    inv = os.path.join(tmp, 'weights.yml')
    with open(inv, 'w') as f:
        yaml.safe_dump({'all': {'hosts': {'rs2': {'lvs_dr_realserver_weight': weight}}}}, f)
    args = ['-i', inv, '--limit', 'dir1']
    if delay_loop is not None:
        with open(os.path.join(lab.root, 'examples', 'group_vars', 'lvs_directors.yml')) as f:
            servers = yaml.safe_load(f)['keepalived_director_virtual_servers']
        for vs in servers:
            vs['delay_loop'] = delay_loop
        extra = os.path.join(tmp, 'delay_loop.json')
        with open(extra, 'w') as f:
            json.dump({'keepalived_director_virtual_servers': servers}, f)
        args += ['-e', '@' + extra]
    run = snapshot.site(lab, *args)
    assert run.returncode == 0, run.stdout[-6000:]
    return run


def ipvs_weight(lab, host_ip, port=80):
    out = lab.run('dir1', 'ipvsadm', '-L', '-n').stdout
    m = re.search(r'->\s+%s:%d\s+Route\s+(\d+)' % (re.escape(host_ip), port), out)
    return int(m.group(1)) if m else None


def keepalived_pid(lab):
    return lab.run('dir1', 'systemctl', 'show', '-p', 'MainPID', '--value', 'keepalived').stdout.strip()


def test_drain_readd_and_reload_lose_no_request(lab):
    tmp = tempfile.mkdtemp(prefix='rel-drain-')
    rs2 = lab.hosts['rs2']['lab_ipv4']

    def delay_conf():
        return lab.run('dir1', 'grep', '-c', 'delay_loop 5', '/etc/keepalived/keepalived.conf').stdout

    pid = keepalived_pid(lab)
    assert pid not in ('', '0')
    # A request fails when it gets no answer within 5 s: a SYN lost and retransmitted after 1 s, or
    # lost again and retransmitted 2 s later, still succeeds (the figures report the slowest request).
    stream = snapshot.Stream(lab, timeout=5, fresh_ports=True).start()
    marks = {}
    try:
        time.sleep(5)
        marks['drain'] = time.time()
        converge_director(lab, tmp, 0)
        assert snapshot.wait_for(lambda: ipvs_weight(lab, rs2) == 0, 30), 'rs2 not drained in IPVS'
        marks['drained'] = time.time()
        time.sleep(8)
        marks['readd'] = time.time()
        converge_director(lab, tmp, 1)
        assert snapshot.wait_for(lambda: ipvs_weight(lab, rs2) == 1, 30), 'rs2 not re-added in IPVS'
        marks['readded'] = time.time()
        time.sleep(5)
        marks['reload'] = time.time()
        converge_director(lab, tmp, 1, delay_loop=5)
        assert delay_conf().strip() != '0', 'delay_loop 5 not in keepalived.conf'
        marks['reloaded'] = time.time()
        time.sleep(5)
    finally:
        records = stream.stop()
    failures = [r for r in records if not r[1]]

    def during(a, b):
        return [r for r in records if marks[a] <= r[0] < marks[b]]

    drained = during('drained', 'readd')
    after = [r for r in records if r[0] >= marks['readded']]
    figures = {'requests': len(records), 'failed': len(failures),
               'drained_window_requests': len(drained),
               'drained_window_to_rs2': sum(1 for r in drained if r[2] == 'rs2'),
               'after_readd_to_rs2': sum(1 for r in after if r[2] == 'rs2'),
               'slowest_s': max(r[3] for r in records if r[1]) if any(r[1] for r in records) else None,
               'failures_at_s': [(round(r[0] - records[0][0], 1), r[2]) for r in failures],
               'phases_s': {k: round(v - records[0][0], 1) for k, v in marks.items()},
               'client': 'curl every 0.1 s, 5 s timeout'}
    snapshot.save_figures('drain', figures)
    assert len(records) >= 100, figures
    assert failures == [], 'failed requests: %s; %s' % (failures[:20], figures)
    assert len(drained) >= 20 and figures['drained_window_to_rs2'] == 0, figures
    assert figures['after_readd_to_rs2'] > 0, figures
    assert keepalived_pid(lab) == pid, 'keepalived was restarted, not reloaded'
