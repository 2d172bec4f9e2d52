"""Proof 3, reboot: a converged real server (sysctl method, then arptables) is restarted
(`lab/lab restart rs1`: a new network namespace with kernel defaults, systemd as PID 1 runs
systemd-sysctl, lvs-dr-arptables.service and lvs-dr-vips.service as at boot). Afterwards the
VIP is back on lo and the ARP protection is in force; a watcher on the client (tcpdump), with
the client asking for the VIP five times a second across the restart, saw no ARP reply for the
VIP (nor ARP with the VIP as sender) from rs1's MAC. The lab has no director, so nobody may
answer at all. The boot order is read back from systemd: the suppression unit had finished
(ActiveEnterTimestampMonotonic) before lvs-dr-vips.service started (ExecMainStartTimestampMonotonic),
and the VIP unit is ordered After= it (and, arptables method, Requires= it)."""
import os
import re
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from arp_watcher import ArpWatcher, claims as vip_claims, requests  # noqa: E402
from lab_fixture import lab_up, LAB  # noqa: E402
import snapshot  # noqa: E402

LAB_NAME = os.environ.get('LVSDR_REL_REBOOT_LAB', 'rel-reboot')
WATCH_LIMIT = 300  # a backstop: the watcher is stopped once the boot has been seen
SUPPRESSION_UNIT = {'sysctl': 'systemd-sysctl.service', 'arptables': 'lvs-dr-arptables.service'}


@pytest.fixture(scope='module')
def lab():
    with lab_up(LAB_NAME, '--realservers', '1', '--directors', '0') as up:
        yield up


def unit_props(lab, unit, *props):
    out = lab.run('rs1', 'systemctl', 'show', unit, '-p', ','.join(props)).stdout
    return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)


def watched_restart(lab):
    """Restart rs1 with the client asking for the VIP and a watcher listening from before the restart (a boot
    it did not see would prove nothing) until rs1 has booted, run its VIP unit and spoken on the wire again.
    Asserts the watch saw requests for the VIP, no claim of it by rs1, and rs1 after the boot; returns
    (requests seen, rs1's claims, restart seconds)."""
    vip = lab.vars['lab_vip4']
    rs_mac = lab.hosts['rs1']['lab_mac'].lower()
    watcher = ArpWatcher(lab, WATCH_LIMIT)
    try:
        time.sleep(4)
        t0 = time.time()
        subprocess.run([LAB, '--name', lab.name, 'restart', 'rs1'], check=True, stdout=subprocess.DEVNULL)
        restart_s = time.time() - t0
        # Booted: wait for the VIP unit to have run, then keep watching a while.
        assert snapshot.wait_for(lambda: unit_props(lab, 'lvs-dr-vips.service', 'ActiveState').get('ActiveState')
                                 in ('active', 'failed'), 30), 'lvs-dr-vips.service did not run'
        # rs1 speaks on the wire after the boot (ARP for the client): the watch covered the boot.
        lab.run('rs1', 'arping', '-c', '1', '-w', '2', '-I', 'eth0', lab.hosts['client']['lab_ipv4'])
        time.sleep(6)
    finally:
        watcher.stop()
    packets = watcher.packets()
    out = '\n'.join(text for dummy, dummy2, text in packets)
    asked = requests(packets, vip)
    assert asked, 'the watcher saw no ARP request for the VIP\n' + out
    claims = [text for mac, text in vip_claims(packets, vip) if mac == rs_mac]
    assert claims == [], 'rs1 claimed the VIP across the reboot:\n' + '\n'.join(claims)
    assert any(mac == rs_mac and t > t0 + restart_s for t, mac, dummy in packets), out
    return asked, claims, restart_s


@pytest.mark.parametrize('method', ['sysctl', 'arptables'])
def test_reboot_restores_vip_after_suppression_without_arp_leak(lab, method):
    vip = lab.vars['lab_vip4']
    run = snapshot.site(lab, '-e', 'lvs_dr_realserver_method=' + method, '--limit', 'rs1')
    assert run.returncode == 0, run.stdout[-6000:]

    asked, claims, restart_s = watched_restart(lab)
    vip_re = re.escape(vip)

    # The VIP is back on lo (labelled, /32), the protection in force.
    addr = lab.run('rs1', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'lo').stdout
    assert re.search(r'inet %s/32 .*lo:lvs' % vip_re, addr), addr
    addr6 = lab.run('rs1', 'ip', '-o', '-6', 'addr', 'show', 'dev', 'lo').stdout
    assert '%s/128' % lab.vars['lab_vip6'] in addr6, addr6
    if method == 'sysctl':
        vals = lab.run('rs1', 'sysctl', '-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce').stdout
        assert vals.split() == ['1', '2'], vals
    else:
        rules = lab.run('rs1', 'arptables', '-L', '-n').stdout
        assert re.search(r'-j DROP .*-d %s(\s|$)' % vip_re, rules), rules
        assert '--mangle-ip-s %s' % lab.hosts['rs1']['lab_ipv4'] in rules, rules

    # Boot order: the suppression had finished before the VIP unit started.
    supp = unit_props(lab, SUPPRESSION_UNIT[method], 'ActiveState', 'ActiveEnterTimestampMonotonic')
    vips = unit_props(lab, 'lvs-dr-vips.service', 'ActiveState', 'Result', 'ExecMainStartTimestampMonotonic', 'After',
                      'Requires')
    assert supp['ActiveState'] == 'active' and vips['ActiveState'] == 'active', (supp, vips)
    assert SUPPRESSION_UNIT[method] in vips['After'].split(), vips['After']
    if method == 'arptables':  # a failed restore would keep the VIP down (tests/integration lvs_realserver boot.yml)
        assert SUPPRESSION_UNIT[method] in vips['Requires'].split(), vips['Requires']
    supp_t, vip_t = int(supp['ActiveEnterTimestampMonotonic']), int(vips['ExecMainStartTimestampMonotonic'])
    assert 0 < supp_t <= vip_t, (supp, vips)
    snapshot.save_figures('reboot-' + method, {
        'restart_s': round(restart_s, 1), 'arp_requests_seen': asked,
        'claims_by_rs1': len(claims), 'suppression_done_before_vip_unit_ms': round((vip_t - supp_t) / 1000.0, 1)})


def test_reboot_without_suppression_keeps_the_vips_down(lab):
    """Issue 14 item 5: the boot record holds the VIP but the suppression does not come back at boot (its
    sysctl.d file removed behind the collection's back). The VIPs' unit guard must keep every VIP down, and
    the segment must see no ARP reply for the VIP from rs1 across the restart."""
    vip = lab.vars['lab_vip4']
    run = snapshot.site(lab, '-e', 'lvs_dr_realserver_method=sysctl', '--limit', 'rs1')
    assert run.returncode == 0, run.stdout[-6000:]
    res = lab.run('rs1', 'rm', '/etc/sysctl.d/90-lvs-dr-arp.conf')
    assert res.returncode == 0, res.stdout
    watched_restart(lab)
    # Booted without suppression: the guard failed the unit and no VIP came up, IPv6 included.
    vips = unit_props(lab, 'lvs-dr-vips.service', 'ActiveState')
    assert vips['ActiveState'] == 'failed', vips
    vals = lab.run('rs1', 'sysctl', '-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce').stdout
    assert vals.split() == ['0', '0'], vals
    addr = lab.run('rs1', 'ip', '-o', 'addr', 'show', 'dev', 'lo').stdout
    assert vip not in addr and lab.vars['lab_vip6'] not in addr, addr
    status = lab.run('rs1', 'systemctl', 'status', '--no-pager', 'lvs-dr-vips.service').stdout
    assert 'is not suppressed' in status, status
