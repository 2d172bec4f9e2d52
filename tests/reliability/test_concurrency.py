"""Proof 7, concurrency: two converges of the same real server started at once (two
ansible-playbook processes, --limit rs1) leave it correct and consistent: each VIP once (or not
at all for a REDIRECT method), no duplicated arptables/iptables rules, the persistence files
well-formed (no half-written or stray temporary files: atomic writes), and a third converge
reports no change. For arptables (VIP held, ARP rules) and iptables (REDIRECT rules, saved
rules files), one lab, the second method converged over the first."""
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from lab_fixture import lab_up  # noqa: E402
import snapshot  # noqa: E402

LAB_NAME = os.environ.get('LVSDR_REL_CONCURRENCY_LAB', 'rel-concurrency')

# Every file the modules persist to, and how to tell it is well-formed.
CHECK_FILES = r"""
set +e
for f in /etc/lvs-dr/* /run/lvs-dr/* /etc/sysctl.d/90-lvs-dr-arp.conf /etc/iptables/rules.v4 /etc/iptables/rules.v6; do
  [ -e "$f" ] && echo "### $f" && cat "$f"
done
echo "### stray"
find /etc/lvs-dr /run/lvs-dr /etc/sysctl.d /etc/iptables /etc/systemd/system -maxdepth 2 \
  \( -name '.*' -o -name '*.tmp' -o -name '*~' -o -name '*.new' -o -name 'tmp*' \) -print 2>/dev/null
echo "### restore-test"
for f in /etc/iptables/rules.v4; do [ -e "$f" ] && { iptables-restore --test < "$f" && echo "$f ok"; }; done
for f in /etc/iptables/rules.v6; do [ -e "$f" ] && { ip6tables-restore --test < "$f" && echo "$f ok"; }; done
exit 0
"""


@pytest.fixture(scope='module')
def lab():
    with lab_up(LAB_NAME, '--realservers', '1', '--directors', '0', '--no-client') as up:
        yield up


def converge_argv(lab, method):
    return (['ansible-playbook', '-i', lab.inventory, os.path.join(lab.root, 'examples', 'site.yml')]
            + snapshot.SITE_EXTRA + ['-e', 'lvs_dr_realserver_method=' + method, '--limit', 'rs1'])


def recap(out):
    m = re.search(r'^rs1\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', out, re.M)
    return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, m.groups()))) if m else None


def duplicates(lines):
    seen, dup = set(), []
    for line in lines:
        if line in seen:
            dup.append(line)
        seen.add(line)
    return dup


@pytest.mark.parametrize('method', ['arptables', 'iptables'])
def test_two_concurrent_converges_leave_a_consistent_host(lab, method):
    vip4, vip6 = lab.vars['lab_vip4'], lab.vars['lab_vip6']
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    procs = [subprocess.Popen(converge_argv(lab, method), cwd=lab.root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for dummy in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    rcs = [p.returncode for p in procs]
    assert rcs == [0, 0], 'concurrent converges failed: %s\n%s' % (rcs, '\n=====\n'.join(o[-4000:] for o in outs))

    snap = snapshot.take(lab, 'rs1')
    addrs = snap['addresses'].splitlines()
    holds = method in ('sysctl', 'arptables')
    for vip, plen in ((vip4, 32), (vip6, 128)):
        n = sum(1 for line in addrs if ' %s/%d ' % (vip, plen) in line + ' ')
        assert n == (1 if holds else 0), 'VIP %s %d times:\n%s' % (vip, n, snap['addresses'])
    for key in ('iptables', 'ip6tables', 'arptables'):
        lines = [line for line in snap[key].splitlines() if line.startswith('-')]
        assert duplicates(lines) == [], 'duplicated %s rules:\n%s' % (key, snap[key])
    arp_rules = [line for line in snap['arptables'].splitlines() if vip4 in line]
    nat_rules = [line for line in snap['iptables'].splitlines() if vip4 in line]
    nat6_rules = [line for line in snap['ip6tables'].splitlines() if vip6 in line]
    if method == 'arptables':
        assert len(arp_rules) == 2 and not nat_rules, snap  # DROP in, mangle out
    else:
        assert len(nat_rules) == 2 and len(nat6_rules) == 2 and not arp_rules, snap  # tcp/80 + udp/9999

    res = lab.run('rs1', 'sh', '-c', CHECK_FILES)
    files = snapshot.parse(res.stdout)
    assert files.get('stray') == '', 'stray temporary files: %s' % files.get('stray')
    for path, text in files.items():
        if path.endswith('.json'):
            json.loads(text)  # a torn write would not parse
        elif path.endswith('.sh'):
            # The VIPs' boot guard is a program (its lines repeat); written twice it would hold its mark twice.
            assert text.count('Managed by the lvs.dr Ansible collection') == 1, '%s:\n%s' % (path, text)
        elif path.startswith('/') and not path.startswith('/etc/iptables/'):
            body = [line for line in text.splitlines() if line.strip() and not line.startswith('#')]
            assert duplicates(body) == [], '%s has duplicates:\n%s' % (path, text)
    if method == 'arptables':
        saved = [line for line in files['/etc/lvs-dr/arptables.rules'].splitlines() if vip4 in line]
        assert len(saved) == 2, files['/etc/lvs-dr/arptables.rules']
    if method == 'iptables':
        restore = files.get('restore-test', '')
        assert '/etc/iptables/rules.v4 ok' in restore and '/etc/iptables/rules.v6 ok' in restore, files
        saved = [line for line in files['/etc/iptables/rules.v4'].splitlines() if vip4 in line]
        assert len(saved) == 2 and duplicates(saved) == [], files['/etc/iptables/rules.v4']
    if 'vips.batch' in ' '.join(files):
        batch = files['/etc/lvs-dr/vips.batch'].splitlines()
        body = [line for line in batch if line.strip() and not line.startswith('#')]
        assert all(line.startswith('address replace ') for line in body), batch
        assert len(body) == (2 if holds else 0), batch

    third = subprocess.run(converge_argv(lab, method), cwd=lab.root, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, check=False)
    assert third.returncode == 0, third.stdout[-4000:]
    assert recap(third.stdout)['changed'] == 0, third.stdout[-6000:]
    snapshot.save_figures('concurrency-' + method, {'first_two': [recap(o) for o in outs],
                                                    'third': recap(third.stdout)})
