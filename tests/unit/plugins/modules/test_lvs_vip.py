# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import ipaddress
import json
import socket
import struct
import subprocess
import sys
import types

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lvs.dr.plugins.module_utils import _vip
from ansible_collections.lvs.dr.plugins.modules import lvs_vip

BATCH = '/etc/lvs-dr/vips.batch'
RUNTIME = '/run/lvs-dr/vips'
UNIT = '/etc/systemd/system/lvs-dr-vips.service'
LINK = '/etc/systemd/system/multi-user.target.wants/lvs-dr-vips.service'
CONF = '/proc/sys/net/ipv4/conf'
V4 = 'address replace 198.51.100.100/32 dev lo label lo:lvs'
V6 = 'address replace 2001:db8:0:1::100/128 dev lo'


class Exit(Exception):
    def __init__(self, result):
        Exception.__init__(self, result)
        self.result = result


class Fail(Exit):
    pass


class FakeHost(object):
    """Files, /proc values, arptables and addresses of one host; System and Netlink both read it."""

    def __init__(self, arp=(1, 2), interfaces=('lo', 'eth0'), arptables=None, binaries=('ip', 'arptables')):
        self.files, self.links, self.calls = {}, {}, []
        self.indexes = dict((name, i + 1) for i, name in enumerate(interfaces))
        self.routed = set()
        self.addresses = [{'index': 1, 'address': ipaddress.ip_interface(u'127.0.0.1/8'), 'label': 'lo'}]
        self.binaries = binaries
        self.arptables = arptables or 'Chain INPUT (policy ACCEPT)\n\nChain OUTPUT (policy ACCEPT)\n'
        self.set_arp(*arp)
        for name in interfaces:
            self.proc(name, 0, 0)

    def proc(self, name, ignore, announce):
        self.files['%s/%s/arp_ignore' % (CONF, name)] = '%d\n' % ignore
        self.files['%s/%s/arp_announce' % (CONF, name)] = '%d\n' % announce

    def set_arp(self, ignore, announce):
        self.proc('all', ignore, announce)
        self.proc('default', ignore, announce)

    def add_address(self, index, text, label=None):
        self.addresses.append({'index': index, 'address': ipaddress.ip_interface(u'' + text), 'label': label})

    def live(self, index=1):
        return sorted(str(a['address']) for a in self.addresses if a['index'] == index and a['label'] != 'lo')

    def mutations(self):
        return [c for c in self.calls if c[0] in ('write', 'remove', 'symlink', 'add', 'delete')]


class FakeSystem(object):
    def lock(self):
        self.host.locked = True

    def __init__(self, host, module):
        self.host = host
        self.module = module

    def binary(self, name, required=True):
        self.host.calls.append(('binary', name, required))
        if name in self.host.binaries:
            return '/usr/sbin/' + name
        if required:
            self.module.fail_json(msg='The %s binary was not found' % name)
        return None

    def query(self, argv, check=True):
        self.host.calls.append(('run', argv))
        assert argv == ['/usr/sbin/arptables', '-L', '-n']
        return 0, self.host.arptables, ''

    def read(self, path):
        return self.host.files.get(path)

    def exists(self, path):
        return path in self.host.files or path in self.host.links

    def listdir(self, path):
        prefix = path + '/'
        return sorted(set(p[len(prefix):].split('/')[0] for p in self.host.files if p.startswith(prefix)))

    def write(self, path, content, mode=0o644):
        self.host.calls.append(('write', path))
        self.host.files[path] = content

    def remove(self, path):
        self.host.calls.append(('remove', path))
        self.host.files.pop(path, None)
        self.host.links.pop(path, None)

    def symlink(self, target, path):
        self.host.calls.append(('symlink', target, path))
        self.host.links[path] = target


class FakeNetlink(object):
    def __init__(self, host):
        self.host = host
        self.closed = False

    def close(self):
        self.closed = True

    def link_index(self, name):
        return self.host.indexes.get(name)

    def link_names(self):
        self.host.calls.append(('link_names',))
        return dict((index, name) for name, index in self.host.indexes.items())

    def addresses(self):
        return [dict(a) for a in self.host.addresses]

    def routed_indexes(self):
        self.host.calls.append(('routes',))
        if isinstance(self.host.routed, Exception):
            raise self.host.routed
        return set(self.host.routed)

    def add(self, index, vip, label=None):
        self.host.calls.append(('add', index, str(vip), label))
        self.host.add_address(index, str(vip), label)

    def delete(self, index, vip):
        self.host.calls.append(('delete', index, str(vip)))
        self.host.addresses = [a for a in self.host.addresses
                               if not (a['index'] == index and a['address'] == vip)]


@pytest.fixture
def host(monkeypatch):
    state = {'host': FakeHost()}

    warnings = []

    def exit_json(self, **result):
        if warnings:
            result['warnings'] = list(warnings)
        del warnings[:]
        raise Exit(result)

    def fail_json(self, **result):
        del warnings[:]
        raise Fail(result)

    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(lvs_vip, 'System', lambda module: FakeSystem(state['host'], module))
    monkeypatch.setattr(lvs_vip, 'Netlink', lambda module: FakeNetlink(state['host']))
    return state


def run(args, check=False, diff=False, expect=Exit):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(expect) as e:
            lvs_vip.main()
    return e.value.result


BOTH = {'vip': ['198.51.100.100', '2001:db8:0:1::100']}


def test_present_adds_records_then_addresses(host):
    h = host['host']
    result = run(BOTH)
    assert result['changed'] is True
    assert h.mutations() == [
        ('write', BATCH),
        ('write', UNIT),
        ('symlink', UNIT, LINK),
        ('add', 1, '198.51.100.100/32', 'lo:lvs'),
        ('add', 1, '2001:db8:0:1::100/128', None),
    ]
    assert result['actions'] == ['write %s' % BATCH, 'install and enable lvs-dr-vips.service',
                                 'add 198.51.100.100/32 to lo', 'add 2001:db8:0:1::100/128 to lo']
    assert result['vips'] == ['198.51.100.100/32', '2001:db8:0:1::100/128']
    assert result['added'] == result['vips'] and result['removed'] == [] and result['unowned'] == []
    assert result['persist_file'] == BATCH and result['unit'] == 'lvs-dr-vips.service'
    assert result['arp_unprotected'] == {'198.51.100.100': []}
    assert h.files[BATCH].splitlines()[2:] == [V4, V6]
    unit = h.files[UNIT]
    assert 'ExecStart=/usr/sbin/ip -force -batch %s\n' % BATCH in unit
    assert 'After=systemd-sysctl.service arptables.service lvs-dr-arptables.service\n' in unit
    assert 'Before=network.target\n' in unit and 'sys-subsystem-net' not in unit
    assert RUNTIME not in h.files

    h.calls[:] = []
    again = run(BOTH)
    assert again['changed'] is False and again['actions'] == [] and h.mutations() == []
    assert again['vips'] == result['vips']
    assert run(BOTH, check=True)['changed'] is False


def test_check_mode_predicts_and_touches_nothing(host):
    h = host['host']
    result = run(BOTH, check=True, diff=True)
    assert result['changed'] is True
    assert h.mutations() == [] and h.files.get(BATCH) is None and h.live() == []
    assert result['added'] == ['198.51.100.100/32', '2001:db8:0:1::100/128']
    assert result['diff'] == {
        'before': {'vips': [], 'persist': [], 'runtime': []},
        'after': {'vips': ['198.51.100.100/32', '2001:db8:0:1::100/128'], 'persist': [V4, V6], 'runtime': []},
    }
    assert run(BOTH)['actions'] == result['actions']


def test_absent_removes_addresses_then_records_and_unit(host):
    h = host['host']
    run(BOTH)
    h.calls[:] = []
    result = run(dict(BOTH, state='absent'), diff=True)
    assert result['changed'] is True
    assert h.mutations() == [
        ('delete', 1, '198.51.100.100/32'),
        ('delete', 1, '2001:db8:0:1::100/128'),
        ('remove', BATCH),
        ('remove', LINK),
        ('remove', UNIT),
    ]
    assert result['removed'] == ['198.51.100.100/32', '2001:db8:0:1::100/128']
    assert result['vips'] == [] and result['persist_file'] is None and result['unit'] is None
    assert result['diff']['after'] == {'vips': [], 'persist': [], 'runtime': []}
    assert h.live() == [] and not h.links
    h.calls[:] = []
    assert run(dict(BOTH, state='absent'))['changed'] is False and h.mutations() == []


def test_absent_keeps_other_owned_vips_in_the_batch(host):
    h = host['host']
    run(BOTH)
    h.calls[:] = []
    result = run({'vip': ['198.51.100.100'], 'state': 'absent'})
    assert h.mutations() == [('delete', 1, '198.51.100.100/32'), ('write', BATCH)]
    assert result['vips'] == ['2001:db8:0:1::100/128'] and result['unit'] == 'lvs-dr-vips.service'
    assert h.files[BATCH].splitlines()[2:] == [V6]


@pytest.mark.parametrize('state, word', [('present', 'not adopting'), ('absent', 'not removing')])
def test_someone_elses_addresses_are_left_alone(host, state, word):
    h = host['host']
    h.add_address(1, '198.51.100.100/32', 'lo')
    h.add_address(1, '2001:db8:0:1::100/128')
    result = run(dict(BOTH, state=state))
    assert result['changed'] is False and h.mutations() == []
    assert result['unowned'] == ['198.51.100.100/32', '2001:db8:0:1::100/128']
    assert result['vips'] == []
    assert len(result['warnings']) == 2 and all(word in w for w in result['warnings'])


def test_label_alone_marks_an_ipv4_vip_as_ours(host):
    h = host['host']
    h.add_address(1, '198.51.100.100/32', 'lo:lvs')
    result = run({'vip': ['198.51.100.100'], 'state': 'absent'})
    assert h.mutations() == [('delete', 1, '198.51.100.100/32')]
    assert result['removed'] == ['198.51.100.100/32']


def test_runtime_only_vip_goes_to_the_runtime_record(host):
    h = host['host']
    result = run({'vip': ['2001:db8:0:1::100'], 'persist': False})
    assert h.mutations() == [('write', RUNTIME), ('add', 1, '2001:db8:0:1::100/128', None)]
    assert h.files[RUNTIME].splitlines()[2:] == [V6]
    assert result['persist_file'] is None and result['unit'] is None
    assert ('binary', 'ip', False) in h.calls
    # Persisting it later moves the record line into the batch file.
    h.calls[:] = []
    run({'vip': ['2001:db8:0:1::100']})
    assert h.mutations() == [('remove', RUNTIME), ('write', BATCH), ('write', UNIT), ('symlink', UNIT, LINK)]
    assert h.files[BATCH].splitlines()[2:] == [V6]
    h.calls[:] = []
    assert run({'vip': ['2001:db8:0:1::100']})['changed'] is False and h.mutations() == []


def test_runtime_only_removal_leaves_the_batch_and_warns(host):
    h = host['host']
    run(BOTH)
    h.calls[:] = []
    result = run({'vip': ['2001:db8:0:1::100'], 'state': 'absent', 'persist': False})
    assert h.mutations() == [('delete', 1, '2001:db8:0:1::100/128')]
    assert result['warnings'] == ['2001:db8:0:1::100 on lo stay in %s (persist is false) and come back at the '
                                  'next boot.' % BATCH]
    assert result['persist_file'] == BATCH and result['unit'] == 'lvs-dr-vips.service'
    h.calls[:] = []
    assert run({'vip': ['2001:db8:0:1::100'], 'state': 'absent', 'persist': False})['changed'] is False


GATE_MSG = ('ARP for VIP 198.51.100.100 is not suppressed on eth0 (effective arp_ignore=0, arp_announce=0): '
            'this host would answer ARP for it and take the service from the director. Run '
            'lvs.dr.lvs_arp_suppress for this VIP first (arp_ignore 1 and arp_announce 2, or arptables rules), '
            'or set require_arp_suppression: false.')


def test_gate_refuses_without_suppression(host):
    h = FakeHost(arp=(0, 0))
    host['host'] = h
    result = run(BOTH, expect=Fail)
    assert result['msg'] == GATE_MSG and h.mutations() == []


def test_gate_refuses_arp_ignore_3(host):
    # 3 answers ARP for a global-scope address on any interface, which the VIP on lo is.
    h = FakeHost(arp=(3, 2))
    host['host'] = h
    assert run(BOTH, expect=Fail)['msg'] == GATE_MSG.replace('arp_ignore=0, arp_announce=0',
                                                             'arp_ignore=3, arp_announce=2')
    assert h.mutations() == []


def test_gate_uses_the_effective_value(host):
    # lo alone suppressed is not enough; eth0's own value counts together with all.
    h = FakeHost(arp=(0, 2))
    h.proc('lo', 1, 2)
    host['host'] = h
    assert run(BOTH, expect=Fail)['msg'] == GATE_MSG.replace('arp_announce=0', 'arp_announce=2')
    h.proc('eth0', 1, 0)
    assert run(BOTH)['changed'] is True


def test_gate_only_warns_in_check_mode(host):
    h = FakeHost(arp=(0, 0))
    host['host'] = h
    result = run(BOTH, check=True)
    assert result['changed'] is True and h.mutations() == []
    assert result['warnings'] == ['Would be refused unless the suppression is in place when the play runs for '
                                  'real: ' + GATE_MSG]
    assert result['arp_unprotected'] == {'198.51.100.100': ['eth0']}


def test_gate_override(host):
    h = FakeHost(arp=(0, 0))
    host['host'] = h
    result = run(dict(BOTH, require_arp_suppression=False))
    assert result['changed'] is True and h.live() == ['198.51.100.100/32', '2001:db8:0:1::100/128']
    assert result['warnings'] == ['require_arp_suppression is false, going ahead: ' + GATE_MSG]


def test_gate_ignores_ipv6_on_lo_and_checks_only_named_interfaces(host):
    h = FakeHost(arp=(0, 0), interfaces=('lo', 'eth0', 'eth1'))
    h.proc('eth1', 1, 2)
    host['host'] = h
    assert run({'vip': ['2001:db8:0:1::100']})['changed'] is True
    assert run({'vip': ['198.51.100.100'], 'arp_interfaces': ['eth1']})['changed'] is True


ADDRESSLESS = ('Interfaces that route IPv4 but hold no IPv4 address: %s. ARP requests the host sends from them '
               'carry another interface\'s address as the sender, a VIP on lo included, whatever arp_announce says; '
               'give each an IPv4 address, or add arptables rules for the VIPs, whose mangle rule rewrites the '
               'sender.')
ROUTED = ('eth0', 'eth1', 'eth2', 'eth3', 'eth4')


def addressless_host(arptables=None):
    """eth0 holds an address; eth1 and eth5 are up without one (eth5 routes nothing: not in
    ROUTED); eth2 is down, eth3 a bridge port, eth4 NOARP."""
    h = FakeHost(arp=(1, 2), interfaces=('lo', 'eth0', 'eth1', 'eth2', 'eth3', 'eth4', 'eth5'), arptables=arptables)
    h.add_address(2, '198.51.100.10/24', 'eth0')
    flags = {'eth0': '0x1003', 'eth1': '0x1003', 'eth2': '0x1002', 'eth3': '0x1003', 'eth4': '0x1083',
             'eth5': '0x1003'}
    h.files.update(('/sys/class/net/%s/flags' % name, value + '\n') for name, value in flags.items())
    h.routed = set(h.indexes[name] for name in ROUTED)
    h.links['/sys/class/net/eth3/master'] = '../br0'  # a bridge port: the bridge sends its ARP
    return h


def test_interface_routing_ipv4_without_an_address_warns(host):
    # arp_announce 2 has no address of eth1 to prefer: ARP sent from it would carry the VIP on lo.
    h = addressless_host()
    host['host'] = h
    for check in (False, True):
        result = run({'vip': ['198.51.100.100']}, check=check)
        assert result['warnings'] == [ADDRESSLESS % 'eth1']
    assert run({'vip': ['198.51.100.100'], 'arp_interfaces': ['eth0']}).get('warnings') is None
    assert run({'vip': ['198.51.100.100'], 'state': 'absent'}).get('warnings') is None
    assert run({'vip': ['2001:db8:0:1::100']}).get('warnings') is None
    # A host meant to answer for the VIP needs no warning.
    assert run({'vip': ['198.51.100.100'], 'require_arp_suppression': False}).get('warnings') is None
    h.add_address(3, '198.51.100.11/24', 'eth1')
    assert run({'vip': ['198.51.100.100']}).get('warnings') is None


def test_routes_are_dumped_only_for_an_interface_up_without_an_address(host):
    h = addressless_host()
    h.add_address(3, '198.51.100.11/24', 'eth1')
    h.files['/sys/class/net/eth5/flags'] = '0x1002\n'
    host['host'] = h
    assert run({'vip': ['198.51.100.100']}).get('warnings') is None
    assert ('routes',) not in h.calls


def test_a_refused_route_dump_warns_and_the_run_goes_on(host):
    h = addressless_host()
    h.routed = OSError(13, 'Permission denied')
    host['host'] = h
    result = run({'vip': ['198.51.100.100']})
    assert result['changed'] is True and h.live() == ['198.51.100.100/32']
    assert result['warnings'] == ['netlink refused to list the IPv4 routes ([Errno 13] Permission denied): whether '
                                  'eth1, eth5, up without an IPv4 address, route IPv4 was not checked.']


def test_interface_routing_ipv4_without_an_address_is_covered_by_the_mangle_rule(host, monkeypatch):
    host['host'] = addressless_host(arptables=(
        'Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100\n\n'
        'Chain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.10\n'))
    assert run({'vip': ['198.51.100.100']}).get('warnings') is None
    # lvs_realserver's check mode: its arptables step, before the VIPs, only plans the rule.
    host['host'] = addressless_host()
    monkeypatch.setattr(lvs_vip, 'VipEngine', functools.partial(_vip.VipEngine, mangle_planned=True))
    assert run({'vip': ['198.51.100.100']}, check=True).get('warnings') is None


def test_vip_on_the_facing_interface_needs_arptables(host):
    h = FakeHost(arp=(1, 2))
    h.add_address(2, '198.51.100.10/24', 'eth0')
    host['host'] = h
    args = {'vip': ['198.51.100.100/24'], 'interface': 'eth0'}
    msg = run(args, expect=Fail)['msg']
    assert msg.startswith('ARP for VIP 198.51.100.100 is not suppressed on eth0 (holds the VIP itself: '
                          'only arptables DROP and mangle rules protect it)')
    # Another tool's ACCEPT ahead of the DROP: the DROP is never reached for that sender.
    h.arptables = ('Chain INPUT (policy ACCEPT)\n-j ACCEPT -s 198.51.100.50 \n-j DROP -d 198.51.100.100 \n\n'
                   'Chain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.10 \n')
    assert run(args, expect=Fail)['msg'].startswith('ARP for VIP 198.51.100.100 is not suppressed on eth0')
    h.arptables = ('Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100 \n\n'
                   'Chain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.10 \n')
    result = run(args)
    assert h.mutations()[-1] == ('add', 2, '198.51.100.100/24', 'eth0:lvs')
    assert 'Wants=sys-subsystem-net-devices-eth0.device\n' in h.files[UNIT]
    assert h.files[BATCH].splitlines()[2:] == ['address replace 198.51.100.100/24 dev eth0 label eth0:lvs']
    assert result['vips'] == ['198.51.100.100/24']
    # A new prefix replaces our address: the old one goes first.
    h.calls[:] = []
    result = run({'vip': ['198.51.100.100/25'], 'interface': 'eth0'})
    assert h.mutations() == [('delete', 2, '198.51.100.100/24'), ('write', BATCH),
                             ('add', 2, '198.51.100.100/25', 'eth0:lvs')]
    assert result['removed'] == ['198.51.100.100/24'] and result['added'] == ['198.51.100.100/25']


def test_ipv6_vip_off_lo_is_refused_unless_overridden(host):
    h = host['host']
    args = {'vip': ['2001:db8:0:1::100/64'], 'interface': 'eth0'}
    for check in (False, True):
        assert run(args, check=check, expect=Fail)['msg'] == (
            'IPv6 VIP 2001:db8:0:1::100 on eth0: neighbour discovery answers for it on that interface and '
            'nothing in lvs.dr suppresses that; put IPv6 VIPs on lo, or set require_arp_suppression: false.')
    assert h.mutations() == []
    result = run(dict(args, require_arp_suppression=False))
    assert result['added'] == ['2001:db8:0:1::100/64'] and len(result['warnings']) == 1


def test_long_interface_name_falls_back_to_the_record(host):
    name = 'enx0123456789ab'
    h = FakeHost(interfaces=('lo', name))
    host['host'] = h
    h.arptables = ('Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100 \n\n'
                   'Chain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.10 \n')
    run({'vip': ['198.51.100.100'], 'interface': name})
    assert h.mutations()[-1] == ('add', 2, '198.51.100.100/32', None)
    assert h.files[BATCH].splitlines()[2:] == ['address replace 198.51.100.100/32 dev %s' % name]
    h.calls[:] = []
    assert run({'vip': ['198.51.100.100'], 'interface': name, 'state': 'absent'})['removed'] == ['198.51.100.100/32']


def test_vip_also_elsewhere_is_reported(host):
    h = host['host']
    h.add_address(2, '198.51.100.100/32', 'eth0')
    result = run({'vip': ['198.51.100.100']})
    assert 'also present on another interface (index 2)' in result['warnings'][0]


@pytest.mark.parametrize('args, msg', [
    ({'vip': ['198.51.100.300']}, "'198.51.100.300' is not a valid IPv4 or IPv6 address"),
    ({'vip': ['198.51.100.100/24']}, "'198.51.100.100/24': a VIP on the loopback interface must be a host"),
    ({'vip': ['2001:db8::1/64']}, "'2001:db8::1/64': a VIP on the loopback interface must be a host address (/128)"),
    ({'vip': ['198.51.100.100/32', '198.51.100.100/31'], 'interface': 'eth0'},
     'Conflicting VIP definitions: 198.51.100.100/32 and 198.51.100.100/31'),
    ({'vip': ['127.0.0.2']}, 'is not usable as a virtual IP'),
    ({'vip': []}, 'vip is empty'),
    ({'vip': ['198.51.100.100'], 'interface': 'nope0'}, 'Interface nope0 does not exist on this host.'),
    ({'vip': ['198.51.100.100'], 'arp_interfaces': ['eth9']}, 'Interface eth9 does not exist on this host.'),
    ({'vip': ['198.51.100.100'], 'state': 'gone'}, 'value of state must be one of: present, absent'),
    ({}, 'state is present but all of the following are missing: vip'),
    ({'state': 'absent', 'vip': []}, 'vip is empty'),
    ({'state': 'absent', 'interface': 'nope0'}, 'Interface nope0 does not exist on this host.'),
])
def test_bad_input_fails_before_anything(host, args, msg):
    h = host['host']
    result = run(args, expect=Fail)
    assert msg in result['msg']
    assert [c for c in h.calls if c[0] != 'binary'] == []


def test_missing_ip_binary_fails_before_changes(host):
    h = FakeHost(binaries=('arptables',))
    host['host'] = h
    assert 'ip binary' in run(BOTH, expect=Fail)['msg'] and h.mutations() == []


def test_missing_pyroute2(host, monkeypatch):
    monkeypatch.setattr(lvs_vip, 'PYROUTE2_MISSING', True)
    result = run(BOTH, expect=Fail)
    assert 'pyroute2' in result['msg'] and 'Failed to import the required Python library' in result['msg']


# The netlink seam itself: reads are a raw RTM_GETADDR dump, changes go through pyroute2's IPRoute
# (a stand-in here, shaped like pyroute2 0.7 and 0.9 alike: addr() is all the seam calls).

def nlmsg(kind, payload):
    return _vip.NLMSGHDR.pack(_vip.NLMSGHDR.size + len(payload), kind, 2, 1, 0) + payload


def rtattr(kind, data):
    size = _vip.RTATTR.size + len(data)
    return _vip.RTATTR.pack(size, kind) + data + b'\0' * (_vip._align(size) - size)


def addr_msg(family, prefixlen, index, *attributes):
    return nlmsg(_vip.RTM_NEWADDR, _vip.IFADDRMSG.pack(family, prefixlen, 0, 0, index) + b''.join(attributes))


def parse_addr_messages(data):
    return _vip.parse_messages(data, _vip.RTM_NEWADDR, _vip.IFADDRMSG)


def test_parse_addr_messages_of_a_dump():
    v4 = ipaddress.ip_address(u'198.51.100.100').packed
    v6 = ipaddress.ip_address(u'2001:db8:0:1::100').packed
    first = addr_msg(socket.AF_INET, 32, 1, rtattr(_vip.IFA_ADDRESS, v4), rtattr(_vip.IFA_LOCAL, v4),
                     rtattr(_vip.IFA_LABEL, b'lo:lvs\0')) + addr_msg(socket.AF_INET6, 128, 1, rtattr(_vip.IFA_ADDRESS, v6))
    assert parse_addr_messages(first) == (False, [
        ((socket.AF_INET, 32, 0, 0, 1), {_vip.IFA_ADDRESS: v4, _vip.IFA_LOCAL: v4, _vip.IFA_LABEL: b'lo:lvs\0'}),
        ((socket.AF_INET6, 128, 0, 0, 1), {_vip.IFA_ADDRESS: v6})])
    assert parse_addr_messages(nlmsg(_vip.NLMSG_DONE, b'\0' * 4)) == (True, [])
    with pytest.raises(OSError) as e:
        parse_addr_messages(nlmsg(_vip.NLMSG_ERROR, struct.pack('=i', -1) + b'\0' * 16))
    assert e.value.errno == 1


def test_route_messages_name_their_interfaces_and_nexthops():
    # 198.51.100.0/24 out of index 2; 198.51.100.128/25 over two nexthops, indexes 3 and 4 (table 100).
    hops = b''.join(_vip.RTNEXTHOP.pack(_vip.RTNEXTHOP.size, 0, 0, index) for index in (3, 4))
    data = (nlmsg(_vip.RTM_NEWROUTE, _vip.RTMSG.pack(socket.AF_INET, 24, 0, 0, 254, 2, 253, 1, 0)
                  + rtattr(_vip.RTA_OIF, struct.pack('=I', 2)))
            + nlmsg(_vip.RTM_NEWROUTE, _vip.RTMSG.pack(socket.AF_INET, 25, 0, 0, 100, 3, 0, 1, 0)
                    + rtattr(_vip.RTA_MULTIPATH, hops))
            + nlmsg(_vip.NLMSG_DONE, b'\0' * 4))
    done, messages = _vip.parse_messages(data, _vip.RTM_NEWROUTE, _vip.RTMSG)
    assert done and [fields[4] for fields, dummy in messages] == [254, 100]
    assert _vip.nexthop_indexes(messages[1][1][_vip.RTA_MULTIPATH]) == [3, 4]
    assert _vip.nexthop_indexes(b'') == []


def test_netlink_reads_agree_with_ip():
    """The dumps on the machine running the tests (a read of its own addresses and routes) against ip -j."""
    listing = json.loads(subprocess.check_output(['ip', '-j', 'addr', 'show']))
    expected = sorted((link['ifindex'], u'%s/%d' % (a['local'], a['prefixlen']), a.get('label'))
                      for link in listing for a in link.get('addr_info', []))
    nl = _vip.Netlink(Module())
    got = sorted((a['index'], str(a['address']), a['label']) for a in nl.addresses())
    assert got == expected
    assert nl.link_names() == dict((link['ifindex'], link['ifname']) for link in listing)
    assert nl.link_index('lo') == 1 and nl.link_index('nope0') is None
    routes = json.loads(subprocess.check_output(['ip', '-j', '-4', 'route', 'show', 'table', 'all']))
    devices = set(route['dev'] for route in routes if 'dev' in route)
    devices.update(hop['dev'] for route in routes for hop in route.get('nexthops', []))
    assert set(nl.link_names()[index] for index in nl.routed_indexes()) == devices


class FakeIPRoute(object):
    def __init__(self):
        self.calls = []

    def addr(self, command, **kwargs):
        if kwargs['address'] == '198.51.100.9':
            raise OSError(17, 'File exists')
        self.calls.append((command, kwargs))

    def close(self):
        self.calls.append(('close',))


class Module(object):
    def fail_json(self, **result):
        raise Fail(result)


def test_netlink_changes_through_pyroute2(monkeypatch):
    ipr = FakeIPRoute()
    monkeypatch.setitem(sys.modules, 'pyroute2', types.SimpleNamespace(IPRoute=lambda: ipr))
    nl = _vip.Netlink(Module())
    nl.add(1, ipaddress.ip_interface(u'198.51.100.100/32'), 'lo:lvs')
    nl.add(1, ipaddress.ip_interface(u'2001:db8:0:1::100/128'))
    nl.delete(1, ipaddress.ip_interface(u'198.51.100.100/32'))
    nl.close()
    assert ipr.calls == [
        ('add', {'index': 1, 'address': '198.51.100.100', 'prefixlen': 32, 'label': 'lo:lvs'}),
        ('add', {'index': 1, 'address': '2001:db8:0:1::100', 'prefixlen': 128}),
        ('del', {'index': 1, 'address': '198.51.100.100', 'prefixlen': 32}),
        ('close',),
    ]
    with pytest.raises(Fail) as e:
        nl.add(1, ipaddress.ip_interface(u'198.51.100.9/32'))
    assert e.value.result['msg'].startswith('netlink refused to add 198.51.100.9/32: ')


def test_netlink_without_a_change_does_not_load_pyroute2(monkeypatch):
    monkeypatch.delitem(sys.modules, 'pyroute2', raising=False)
    nl = _vip.Netlink(Module())
    nl.addresses()
    nl.close()
    assert 'pyroute2' not in sys.modules


@pytest.mark.parametrize('name, escaped', [('eth0', 'eth0'), ('eth0.100', 'eth0.100'), ('br-lan', 'br\\x2dlan'),
                                           ('.x@y', '\\x2ex\\x40y')])
def test_unit_escape_matches_systemd_escape(name, escaped):
    assert _vip.unit_escape(name) == escaped


def test_runtime_only_request_for_a_persisted_vip_changes_nothing(host):
    h = host['host']
    run(BOTH)
    h.calls[:] = []
    assert run(dict(BOTH, persist=False))['changed'] is False and h.mutations() == []


# state=absent without vip: everything the module owns, for cleanup after the VIP list changed.

ETH0 = {'vip': ['198.51.100.101'], 'interface': 'eth0', 'persist': False, 'require_arp_suppression': False}


def owned_everywhere(h):
    run(BOTH)
    run(ETH0)
    h.add_address(1, '198.51.100.50/32', 'lo')  # someone else's
    # A persisted VIP no longer live (removed by hand): only its record line is left.
    h.files[BATCH] += 'address replace 198.51.100.77/32 dev lo label lo:lvs\n'
    h.calls[:] = []


def test_absent_without_vip_removes_every_owned_vip_on_every_interface(host):
    h = host['host']
    owned_everywhere(h)
    check = run({'state': 'absent'}, check=True, diff=True)
    assert check['changed'] is True and h.mutations() == []
    assert check['diff']['before']['vips'] == ['198.51.100.100/32', '198.51.100.101/32', '2001:db8:0:1::100/128']
    assert check['diff']['after'] == {'vips': [], 'persist': [], 'runtime': []}

    result = run({'state': 'absent'})
    assert h.mutations() == [
        ('delete', 1, '198.51.100.100/32'),
        ('delete', 1, '2001:db8:0:1::100/128'),
        ('delete', 2, '198.51.100.101/32'),
        ('remove', RUNTIME),
        ('remove', BATCH),
        ('remove', LINK),
        ('remove', UNIT),
    ]
    assert result['interface'] is None and result['vips'] == [] and result['unit'] is None
    assert result['actions'][:3] == ['remove 198.51.100.100/32 from lo', 'remove 2001:db8:0:1::100/128 from lo',
                                     'remove 198.51.100.101/32 from eth0']
    assert [str(a['address']) for a in h.addresses] == ['127.0.0.1/8', '198.51.100.50/32']
    for check in (False, True):
        h.calls[:] = []
        again = run({'state': 'absent'}, check=check)
        assert again['changed'] is False and h.mutations() == []


def test_absent_without_vip_on_one_interface(host):
    h = host['host']
    owned_everywhere(h)
    result = run({'state': 'absent', 'interface': 'eth0'})
    assert h.mutations() == [('delete', 2, '198.51.100.101/32'), ('remove', RUNTIME)]
    assert result['interface'] == 'eth0' and result['removed'] == ['198.51.100.101/32']
    assert h.files[BATCH].splitlines()[2:] == [V4, V6, 'address replace 198.51.100.77/32 dev lo label lo:lvs']


def test_absent_without_vip_runtime_only_leaves_the_batch_and_warns(host):
    h = host['host']
    run(BOTH)
    h.calls[:] = []
    result = run({'state': 'absent', 'persist': False})
    assert h.mutations() == [('delete', 1, '198.51.100.100/32'), ('delete', 1, '2001:db8:0:1::100/128')]
    assert 'come back at the next boot' in result['warnings'][0] and BATCH in h.files


def test_absent_without_vip_on_a_host_that_never_had_any(host):
    h = host['host']
    for check in (True, False):
        result = run({'state': 'absent'}, check=check)
        assert result['changed'] is False and h.mutations() == [] and result['removed'] == []


def test_exclusive_removes_owned_vips_no_longer_listed(host):
    h = host['host']
    run(BOTH)
    h.add_address(1, '198.51.100.7/32')  # not the module's: stays
    h.calls[:] = []
    args = {'vip': ['198.51.100.100'], 'exclusive': True}
    check = run(args, check=True)
    assert check['changed'] is True and h.mutations() == []
    result = run(args)
    assert result['removed'] == ['2001:db8:0:1::100/128']
    assert h.mutations()[0] == ('delete', 1, '2001:db8:0:1::100/128')
    assert h.live() == ['198.51.100.100/32', '198.51.100.7/32']
    assert h.files[BATCH].splitlines()[2:] == [V4]
    assert run(args)['changed'] is False
    # Without exclusive a shorter list leaves the others alone.
    assert run({'vip': ['2001:db8:0:1::100']})['added'] == ['2001:db8:0:1::100/128']
    assert run({'vip': ['198.51.100.100']})['changed'] is False


def test_exclusive_runtime_only_drop_leaves_the_batch_and_warns(host):
    h = host['host']
    run(BOTH)
    result = run({'vip': ['198.51.100.100'], 'exclusive': True, 'persist': False})
    assert result['removed'] == ['2001:db8:0:1::100/128'] and h.files[BATCH].splitlines()[2:] == [V4, V6]
    assert result['warnings'] == ['2001:db8:0:1::100 on lo stay in %s (persist is false) and come back at the '
                                  'next boot.' % BATCH]
