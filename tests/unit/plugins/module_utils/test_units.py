# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot units' marks, and the VIPs' guard run for real by the shells a host may have as /bin/sh (dash,
bash) over a fake /proc/sys/net/ipv4/conf and a fake arptables: the same rule as the ARP gate of lvs_vip."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import subprocess

import pytest

from ansible_collections.lvs.dr.plugins.module_utils import _units

SHELLS = [shell for shell in ('dash', 'bash') if shutil.which(shell)]
V4 = 'address replace 198.51.100.100/32 dev lo label lo:lvs'
V6 = 'address replace 2001:db8:0:1::100/128 dev lo'
ARPTABLES = ('Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100 \n\n'
             'Chain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.10 \n')


def test_mark_is_the_first_line_of_every_unit():
    unit = _units.Unit('x.service', 'lvs_vip', 'X', '/etc/x', '', 'ExecStart=/bin/true')
    assert unit.content.splitlines()[0] == _units.mark('lvs_vip') == unit.mark
    assert unit.ours(unit.content)
    assert not unit.ours('[Unit]\n' + unit.mark + '\n')
    assert not unit.ours(_units.mark('lvs.dr.lvs_arp_suppress') + '\n')


class Host(object):
    """A fake conf directory (the guard's /proc/sys/net/ipv4/conf), a record and an arptables on PATH."""

    def __init__(self, tmp_path, shell, interfaces=('lo', 'eth0')):
        self.tmp = tmp_path
        self.shell = shell
        self.conf = tmp_path / 'conf'
        self.bin = tmp_path / 'bin'
        self.bin.mkdir()
        for name in ('all', 'default') + tuple(interfaces):
            self.set(name, 0, 0)
        self.record = tmp_path / 'vips.batch'
        self.arptables(None)

    def set(self, name, ignore, announce):
        (self.conf / name).mkdir(parents=True, exist_ok=True)
        (self.conf / name / 'arp_ignore').write_text('%d\n' % ignore)
        (self.conf / name / 'arp_announce').write_text('%d\n' % announce)

    def arptables(self, listing):
        path = self.bin / 'arptables'
        if listing is None:
            if path.exists():
                path.unlink()
            return
        (self.tmp / 'listing').write_text(listing)
        path.write_text('#!/bin/sh\n[ "$*" = "-L -n" ] && exec cat %s\nexit 2\n' % (self.tmp / 'listing'))
        path.chmod(0o755)

    def guard(self, lines, interfaces=None):
        self.record.write_text(_vip_header() + ''.join(line + '\n' for line in lines))
        script = self.tmp / 'guard.sh'
        text = _units.vips_guard('lvs_vip', interfaces)
        assert text.count('/proc/sys/net/ipv4/conf') == 1
        script.write_text(text.replace('/proc/sys/net/ipv4/conf', str(self.conf)))
        env = dict(os.environ, PATH='%s:/usr/bin:/bin' % self.bin)
        return subprocess.run([self.shell, str(script), str(self.record)], env=env, cwd=str(self.tmp),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)


def _vip_header():
    from ansible_collections.lvs.dr.plugins.module_utils._vip import RECORD_HEADER
    return RECORD_HEADER


@pytest.fixture(params=SHELLS)
def host(request, tmp_path):
    return Host(tmp_path, request.param)


def ok(result):
    return result.returncode == 0


@pytest.mark.parametrize('all_values, eth0_values, passes', [
    ((1, 2), (0, 0), True),     # all covers every interface: max(all, interface)
    ((0, 0), (1, 2), True),     # the interface's own values count as much
    ((0, 2), (1, 0), True),     # one key from each
    ((2, 2), (0, 0), True),
    ((8, 2), (0, 0), True),
    ((0, 0), (0, 0), False),
    ((3, 2), (0, 0), False),    # 3 answers for a global-scope address on lo
    ((1, 1), (0, 0), False),
    ((1, 3), (0, 0), False),    # exactly 2: arp_solicit() treats 3 and above like 0
    ((1, 2), (4, 0), False),    # max(all, eth0) arp_ignore is 4: reserved, replies
])
def test_sysctl_rule_is_the_gates(host, all_values, eth0_values, passes):
    host.set('all', *all_values)
    host.set('eth0', *eth0_values)
    result = host.guard([V4, V6])
    assert ok(result) is passes, result.stderr
    if not passes:
        assert result.stderr.startswith('lvs-dr-vips: ARP for VIP 198.51.100.100 is not suppressed (eth0 has '
                                        'effective arp_ignore=')
        assert 'no VIP is restored' in result.stderr


def test_lo_all_and_default_are_not_facing(host):
    host.set('lo', 0, 0)
    host.set('default', 0, 0)
    host.set('all', 0, 0)
    host.set('eth0', 1, 2)
    assert ok(host.guard([V4]))
    host.set('eth1', 0, 0)  # a facing interface without suppression
    assert 'eth1 has effective arp_ignore=0, arp_announce=0' in host.guard([V4]).stderr


def test_ipv6_only_and_empty_records_pass(host):
    assert ok(host.guard([V6]))
    assert ok(host.guard([]))


def test_arptables_rules_protect_without_sysctl(host):
    host.arptables(ARPTABLES)
    assert ok(host.guard([V4]))
    # On the VIP's own interface only arptables protects.
    assert ok(host.guard(['address replace 198.51.100.100/32 dev eth0 label eth0:lvs']))


@pytest.mark.parametrize('listing', [
    'Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100 \n\nChain OUTPUT (policy ACCEPT)\n',
    'Chain INPUT (policy ACCEPT)\n\nChain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 10.0.0.1\n',
    # the mangle to the VIP itself, the rules in the wrong chains, an interface restriction, another VIP
    ARPTABLES.replace('--mangle-ip-s 198.51.100.10', '--mangle-ip-s 198.51.100.100'),
    ARPTABLES.replace('INPUT', 'X').replace('OUTPUT', 'INPUT').replace('X', 'OUTPUT'),
    ARPTABLES.replace('-j DROP -d', '-j DROP -i eth0 -d'),
    ARPTABLES.replace('198.51.100.100', '198.51.100.101'),
    '',
])
def test_arptables_rules_must_both_be_there(host, listing):
    host.arptables(listing)
    assert not ok(host.guard([V4]))


def test_arptables_names_of_arptables_jf_and_a_host_mask(host):
    host.arptables(ARPTABLES.replace('INPUT', 'IN').replace('OUTPUT', 'OUT').replace('100 ', '100/32 '))
    assert ok(host.guard([V4]))


def test_a_vip_off_lo_needs_arptables(host):
    host.set('all', 1, 2)
    result = host.guard(['address replace 198.51.100.100/24 dev eth0 label eth0:lvs'])
    assert 'eth0 holds the VIP itself' in result.stderr and not ok(result)


def test_every_ipv4_vip_is_checked(host):
    host.arptables(ARPTABLES)
    result = host.guard([V4, 'address replace 198.51.100.101/32 dev lo label lo:lvs'])
    assert not ok(result) and 'VIP 198.51.100.101 is not suppressed' in result.stderr
    assert '198.51.100.100' not in result.stderr


def test_named_interfaces_only_and_a_missing_one_fails(host):
    host.set('eth1', 1, 2)
    assert ok(host.guard([V4], ['eth1']))
    result = host.guard([V4], ['eth1', 'eth9'])
    assert not ok(result) and 'eth9 does not exist' in result.stderr
    # lo named: the VIP is on it, sysctl cannot protect there.
    assert 'lo holds the VIP itself' in host.guard([V4], ['lo']).stderr


def test_an_interface_name_is_data_for_the_shell(host):
    name = '$(touch pwned)`touch pwned2`;*'
    host.set(name, 1, 2)
    assert ok(host.guard([V4], [name]))
    assert not (host.tmp / 'pwned').exists() and not (host.tmp / 'pwned2').exists()


def test_no_record_fails(host):
    host.set('all', 1, 2)
    host.guard([V4])
    host.record.unlink()
    script = host.tmp / 'guard.sh'
    result = subprocess.run([host.shell, str(script), str(host.record)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert result.returncode == 1 and 'cannot read the boot record' in result.stderr
