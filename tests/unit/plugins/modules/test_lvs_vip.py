# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import ipaddress
import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lvs.dr.plugins.module_utils import _units as units, _vip
from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal
from ansible_collections.lvs.dr.plugins.modules import lvs_vip

BATCH = '/etc/lvs-dr/vips.batch'
RUNTIME = '/run/lvs-dr/vips'
UNIT = '/etc/systemd/system/lvs-dr-vips.service'
LINK = '/etc/systemd/system/multi-user.target.wants/lvs-dr-vips.service'
GUARD = '/etc/lvs-dr/vips-guard.sh'
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

    def __init__(self, host):
        self.host = host

    def binary(self, name, required=True):
        self.host.calls.append(('binary', name, required))
        if name in self.host.binaries:
            return '/usr/sbin/' + name
        if required:
            raise Refusal('The %s binary was not found on the host; install it.' % name)
        return None

    def query(self, argv, check=True):
        self.host.calls.append(('run', argv))
        assert argv == ['/usr/sbin/arptables', '-L', '-n']
        return 0, self.host.arptables, ''

    def read(self, path):
        text = self.host.files.get(path)
        if isinstance(text, Exception):
            raise text
        return text

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
    monkeypatch.setattr(lvs_vip, 'System', lambda module: FakeSystem(state['host']))
    monkeypatch.setattr(lvs_vip, 'Netlink', lambda: FakeNetlink(state['host']))
    return state


def run(args, check=False, diff=False, expect=Exit):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(expect) as e:
            lvs_vip.main()
    return e.value.result


BOTH = {'vip': ['198.51.100.100', '2001:db8:0:1::100']}
# arptables -L -n with lvs_arp_suppress's DROP and mangle rules for 198.51.100.100.
ARPTABLES_100 = ('Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100 \n\n'
                 'Chain OUTPUT (policy ACCEPT)\n-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.10 \n')


def test_present_adds_records_then_addresses(host):
    h = host['host']
    result = run(BOTH)
    assert result['changed'] is True
    assert h.mutations() == [
        ('write', BATCH),
        ('write', GUARD),
        ('write', UNIT),
        ('symlink', UNIT, LINK),
        ('add', 1, '198.51.100.100/32', 'lo:lvs'),
        ('add', 1, '2001:db8:0:1::100/128', None),
    ]
    assert result['actions'] == ['write %s' % BATCH, 'write %s' % GUARD, 'install and enable lvs-dr-vips.service',
                                 'add 198.51.100.100/32 to lo', 'add 2001:db8:0:1::100/128 to lo']
    assert result['vips'] == ['198.51.100.100/32', '2001:db8:0:1::100/128']
    assert result['added'] == result['vips'] and result['removed'] == [] and result['unowned'] == []
    assert result['persist_file'] == BATCH and result['unit'] == 'lvs-dr-vips.service'
    assert result['arp_unprotected'] == {'198.51.100.100': []}
    assert h.files[BATCH].splitlines()[2:] == [V4, V6]
    unit = h.files[UNIT]
    assert 'ExecStartPre=/bin/sh %s %s\nExecStart=/usr/sbin/ip -force -batch %s\n' % (GUARD, BATCH, BATCH) in unit
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
        ('remove', GUARD),
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
    # The last IPv4 VIP gone, the unit needs no guard: rewritten without it, then the guard goes.
    assert h.mutations() == [('delete', 1, '198.51.100.100/32'), ('write', BATCH), ('write', UNIT),
                             ('symlink', UNIT, LINK), ('remove', GUARD)]
    assert result['vips'] == ['2001:db8:0:1::100/128'] and result['unit'] == 'lvs-dr-vips.service'
    assert h.files[BATCH].splitlines()[2:] == [V6]
    assert 'ExecStartPre' not in h.files[UNIT] and GUARD not in h.files


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


BOOT_GUARD_WARNING = ('lvs-dr-vips.service restores no VIP at boot while ARP for an IPv4 VIP of %s is not suppressed: '
                      'its guard (%s) fails and keeps them all down until it is.' % (BATCH, GUARD))


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
    # persist: the boot guard will keep the VIPs down until suppression is in force (on purpose, issue 14).
    assert result['warnings'] == ['require_arp_suppression is false, going ahead: ' + GATE_MSG, BOOT_GUARD_WARNING]
    assert run(dict(BOTH, vip=['198.51.100.101'], require_arp_suppression=False, persist=False))['warnings'] == [
        'require_arp_suppression is false, going ahead: ' + GATE_MSG.replace('198.51.100.100', '198.51.100.101')]


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
    h.add_address(2, '2001:db8:0:1::10/64', 'eth0')
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


OWN_ADDRESS = ("VIP 198.51.100.100 is this host's own address 198.51.100.100/24 on eth0, which lvs_vip did not add: "
               "as a VIP the directors would hold it too and take it over on the segment, and ARP suppression for it "
               "(arptables DROP) would stop this host answering for its own address; either way the host is cut off. "
               "Name the service's virtual IP, not an address of the host; if eth0 holds it for another tool, remove "
               "it there first.")


def test_the_hosts_own_address_is_refused_as_a_new_vip(host):
    # Formerly a warning ("also present on another interface"): taking the real IP onto lo breaks the host.
    h = host['host']
    h.add_address(2, '198.51.100.100/24', 'eth0')
    for check in (False, True):
        assert run({'vip': ['198.51.100.100']}, check=check, expect=Fail)['msg'] == OWN_ADDRESS
        assert run({'vip': ['198.51.100.100'], 'require_arp_suppression': False}, expect=Fail)['msg'] == OWN_ADDRESS
    assert h.mutations() == [] and h.live() == [] and BATCH not in h.files
    # Removing it from lo (where lvs_vip has nothing) leaves eth0's address alone, and says so.
    result = run({'vip': ['198.51.100.100'], 'state': 'absent'})
    assert result['changed'] is False and h.mutations() == []
    assert result['warnings'] == ['VIP 198.51.100.100 is also on eth0 (198.51.100.100/24, not added by lvs_vip), '
                                  'which this run (interface lo) leaves as it is.']


def test_own_vip_on_another_interface_warns_or_moves_with_exclusive(host):
    h = FakeHost(arp=(1, 2))
    h.add_address(2, '198.51.100.10/24', 'eth0')
    h.arptables = ARPTABLES_100
    host['host'] = h
    run({'vip': ['198.51.100.100'], 'interface': 'eth0', 'persist': False})
    h.calls[:] = []
    result = run({'vip': ['198.51.100.100'], 'persist': False})
    assert result['added'] == ['198.51.100.100/32']
    assert result['warnings'] == ['VIP 198.51.100.100 is also on eth0 (198.51.100.100/32, held by lvs_vip), which '
                                  'this run (interface lo) leaves as it is.']
    run({'vip': ['198.51.100.100'], 'interface': 'eth0', 'state': 'absent', 'persist': False})
    run({'vip': ['198.51.100.100'], 'state': 'absent', 'persist': False})
    # exclusive moves it: the eth0 copy goes first, no warning.
    run({'vip': ['198.51.100.100'], 'interface': 'eth0', 'persist': False})
    h.calls[:] = []
    result = run({'vip': ['198.51.100.100'], 'persist': False, 'exclusive': True})
    assert result.get('warnings') is None and result['removed'] == ['198.51.100.100/32']
    assert h.mutations()[0] == ('delete', 2, '198.51.100.100/32') and h.live() == ['198.51.100.100/32']


@pytest.mark.parametrize('args, msg', [
    ({'vip': ['198.51.100.300']}, "'198.51.100.300' is not a valid IPv4 or IPv6 address"),
    ({'vip': ['198.51.100.100/24']}, "'198.51.100.100/24': a VIP on the loopback interface must be a host"),
    ({'vip': ['2001:db8::1/64']}, "'2001:db8::1/64': a VIP on the loopback interface must be a host address (/128)"),
    ({'vip': ['198.51.100.100/32', '198.51.100.100/31'], 'interface': 'eth0'},
     'Conflicting VIP definitions: 198.51.100.100/32 and 198.51.100.100/31'),
    ({'vip': ['127.0.0.2']}, 'is not usable as a virtual IP'),
    ({'vip': []}, 'vip is an empty list: with state present the host would hold no VIP, and with exclusive every '
                  'VIP lvs_vip holds on this host would be removed'),
    ({'vip': ['198.51.100.100'], 'interface': 'nope0'}, 'Interface nope0 does not exist on this host.'),
    ({'vip': ['198.51.100.100'], 'arp_interfaces': ['eth9']}, 'Interface eth9 does not exist on this host.'),
    ({'vip': ['198.51.100.100'], 'state': 'gone'}, 'value of state must be one of: present, absent'),
    ({}, 'state is present but all of the following are missing: vip'),
    ({'state': 'absent', 'vip': []}, 'vip is an empty list: name the VIPs to remove, or leave vip out'),
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
        ('remove', GUARD),
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


# Issue 14: every refusal before anything changes, the host as it was.

def snapshot(h):
    return dict(h.files), dict(h.links), [dict(a) for a in h.addresses]


def refused(h, args, check=False):
    before = snapshot(h)
    msg = run(args, check=check, expect=Fail)['msg']
    assert h.mutations() == [] and snapshot(h) == before
    return msg


@pytest.mark.parametrize('path', ['/etc/lvs-dr/vips batch', '/etc/lvs-dr/x\nExecStartPre=/bin/touch /tmp/pwned',
                                  '/etc/lvs-dr/%n', '/etc/lvs-dr/$HOME', '/etc/lvs-dr/"a"', '/etc/lvs-dr/a\\x20',
                                  '/etc/lvs-dr/../fstab', '/etc//lvs-dr/vips', 'etc/lvs-dr/vips'])
def test_persist_file_a_unit_would_read_otherwise_is_refused(host, path):
    for state in ('present', 'absent'):
        args = {'vip': ['198.51.100.100'], 'persist_file': path, 'state': state}
        assert 'is refused: a path the module writes and names in a systemd unit' in refused(host['host'], args)


@pytest.mark.parametrize('path, phrase', [
    ('/run/lvs-dr/vips.batch', '/run is emptied at boot or belongs to the kernel'),
    ('/run/lvs-dr/vips', '/run is emptied at boot or belongs to the kernel'),
    ('/proc/sys/net/ipv4/conf/all/arp_ignore', '/proc is emptied at boot or belongs to the kernel'),
    ('/dev/sda', '/dev is emptied at boot or belongs to the kernel'),
    (GUARD, "the module writes that file as the VIPs' boot unit or its guard"),
    (UNIT, "the module writes that file as the VIPs' boot unit or its guard"),
])
def test_persist_file_that_cannot_be_a_boot_record_is_refused(host, path, phrase):
    assert phrase in refused(host['host'], {'vip': ['198.51.100.100'], 'persist_file': path})


@pytest.mark.parametrize('state', ['present', 'absent'])
def test_a_foreign_file_is_never_taken_over_nor_removed(host, state):
    h = host['host']
    h.files['/etc/fstab'] = 'UUID=1234 / ext4 defaults 0 1\n'
    args = {'persist_file': '/etc/fstab', 'state': state}
    if state == 'present':
        args['vip'] = ['198.51.100.100']
    for check in (False, True):
        assert refused(h, args, check=check) == (
            '/etc/fstab exists and was not written by lvs.dr.lvs_vip; refusing to take it over (a module rewrites or '
            'removes only its own files). Remove it or choose another path.')
    assert h.files['/etc/fstab'] == 'UUID=1234 / ext4 defaults 0 1\n'


@pytest.mark.parametrize('path, persist', [(RUNTIME, False), (RUNTIME, True), (UNIT, True), (GUARD, True)])
def test_foreign_runtime_record_unit_or_guard_is_refused(host, path, persist):
    h = host['host']
    h.files[path] = '# hand-written\n'
    for args in (dict(BOTH, persist=persist), {'state': 'absent', 'persist': persist}):
        assert 'exists and was not written by lvs.dr.lvs_vip' in refused(h, args)
    assert h.files[path] == '# hand-written\n'


def test_a_foreign_unit_stays_out_of_a_runtime_only_run(host):
    # persist=false never rewrites nor removes the unit: someone else's unit there is not in the way.
    h = host['host']
    h.files[UNIT] = '[Unit]\nDescription=mine\n'
    assert run(dict(BOTH, persist=False))['changed'] is True and h.files[UNIT] == '[Unit]\nDescription=mine\n'


def test_a_persist_file_that_cannot_be_read_is_refused(host):
    h = host['host']
    h.files['/etc/lvs-dr'] = IsADirectoryError(21, 'Is a directory')
    msg = refused(h, {'vip': ['198.51.100.100'], 'persist_file': '/etc/lvs-dr'})
    assert msg == '/etc/lvs-dr cannot be read (Is a directory): the module reads what it rewrites or removes first. ' \
                  'Name a regular file.'


@pytest.mark.parametrize('args, phrase', [
    ({'vip': ['198.51.100.100'], 'interface': 'eth0 x'}, "interface 'eth0 x' is not a valid interface name"),
    ({'vip': ['198.51.100.100'], 'interface': 'a/b'}, "interface 'a/b' is not a valid interface name"),
    ({'vip': ['198.51.100.100'], 'interface': 'eth0:lvs'}, "interface 'eth0:lvs' is not a valid interface name"),
    ({'vip': ['198.51.100.100'], 'interface': 'x' * 16}, 'is not a valid interface name'),
    ({'state': 'absent', 'interface': 'lo\nx'}, 'is not a valid interface name'),
    ({'vip': ['198.51.100.100'], 'arp_interfaces': ['eth0 && reboot']},
     "arp_interfaces entry 'eth0 && reboot' is not a valid interface name"),
    ({'vip': ['198.51.100.100'], 'arp_interfaces': []},
     'arp_interfaces is an empty list: no interface would be checked, so the ARP gate would let any VIP through'),
    ({'vip': ['198.51.100.100'], 'interface': 'e#x'},
     "interface 'e#x' is refused: ip -batch, which restores the VIPs at boot, reads # as the start of a comment"),
    ({'vip': ['198.51.100.100'], 'interface': '"e"'}, 'reads # as the start of a comment and quotes or backslashes'),
])
def test_interface_names_are_checked_before_they_are_looked_up(host, args, phrase):
    h = FakeHost(interfaces=('lo', 'eth0', 'e#x', '"e"'))
    host['host'] = h
    assert phrase in refused(h, args)
    assert [c for c in h.calls if c[0] != 'binary'] == []


def test_a_prefix_off_lo_must_not_add_a_route(host):
    h = FakeHost(arp=(1, 2), arptables=ARPTABLES_100)
    h.add_address(2, '198.51.100.10/24', 'eth0')
    host['host'] = h
    args = {'vip': ['198.51.100.100/1'], 'interface': 'eth0', 'require_arp_suppression': False}
    assert refused(h, args) == (
        'VIP 198.51.100.100/1 on eth0: its prefix adds a route to 128.0.0.0/1 through eth0, a network no address of '
        'eth0 is in, so this host would send to it on-link from eth0 instead of through its routes (a short prefix '
        'takes over most of its routing). Give the VIP as a host address (/32), or a prefix within a network eth0 '
        'already has.')
    assert 'adds a route to 198.51.0.0/16' in refused(h, dict(args, vip=['198.51.100.100/16']))
    # Within eth0's own network (or a host address) nothing is routed anew.
    for vip in ('198.51.100.100/24', '198.51.100.100/26', '198.51.100.100/32'):
        assert run(dict(args, vip=[vip], persist=False))['changed'] is True
        run(dict(args, vip=[vip], state='absent', persist=False))


# The boot: the unit's guard, and the suppression it needs at boot.

SYSCTL_RUN = '/run/lvs-dr/90-lvs-dr-arp.conf'
SYSCTL_BOOT = '/etc/sysctl.d/90-lvs-dr-arp.conf'
SUPPRESS_MARK = '# Managed by the lvs.dr Ansible collection (lvs.dr.lvs_arp_suppress); changes here are overwritten.\n'
ARP_RUN = '/run/lvs-dr/arptables-owned.json'
ARP_BOOT = '/etc/lvs-dr/arptables-owned.json'


def arptables_record(vip='198.51.100.100'):
    return json.dumps({'managed_by': 'lvs.dr.lvs_arp_suppress', 'enabled': False, 'rules': [
        {'chain': 'INPUT', '-d': vip, '-j': 'DROP'},
        {'chain': 'OUTPUT', '-s': vip, '-j': 'mangle', '--mangle-ip-s': '198.51.100.10'}]})


def test_the_unit_runs_the_guard_for_ipv4_vips_only(host):
    h = host['host']
    run({'vip': ['2001:db8:0:1::100']})
    assert 'ExecStartPre' not in h.files[UNIT] and GUARD not in h.files
    h.calls[:] = []
    run(BOTH)
    assert h.mutations() == [('write', BATCH), ('write', GUARD), ('write', UNIT), ('symlink', UNIT, LINK),
                             ('add', 1, '198.51.100.100/32', 'lo:lvs')]
    assert h.files[GUARD] == units.vips_guard('lvs_vip')
    assert h.files[GUARD].startswith('# Managed by the lvs.dr Ansible collection (lvs_vip); changes here are '
                                     'overwritten.\n')
    assert h.files[UNIT].splitlines()[:2] == ['# Managed by the lvs.dr Ansible collection (lvs_vip); changes here are '
                                              'overwritten.', '[Unit]']
    for check in (False, True):
        h.calls[:] = []
        assert run(BOTH, check=check)['changed'] is False and h.mutations() == []


def test_the_guard_checks_the_interfaces_named_in_arp_interfaces(host):
    h = FakeHost(interfaces=('lo', 'eth0', 'eth1'))
    host['host'] = h
    run(dict(BOTH, arp_interfaces=['eth1']))
    assert h.files[GUARD] == units.vips_guard('lvs_vip', ['eth1'])
    assert '"$conf"/eth1' in h.files[GUARD] and 'lo|all|default' not in h.files[GUARD]
    h.calls[:] = []
    assert run(dict(BOTH, arp_interfaces=['eth1']))['changed'] is False
    # Another scope rewrites the guard alone.
    assert run(BOTH)['actions'] == ['write %s' % GUARD] and h.files[GUARD] == units.vips_guard('lvs_vip')


def test_suppression_of_the_running_system_only_is_refused_for_a_persisted_vip(host):
    h = host['host']
    h.files[SYSCTL_RUN] = SUPPRESS_MARK + 'net.ipv4.conf.all.arp_ignore = 1\n'
    msg = refused(h, BOTH)
    assert msg == (
        'ARP for VIP 198.51.100.100 is suppressed on the running system only (the sysctl values are recorded in %s '
        'only, with no boot file where systemd-sysctl reads: lvs_arp_suppress with persist: false): at the next boot '
        'the VIP would come back without it, and the guard of lvs-dr-vips.service then restores no VIP at all. Make '
        'the suppression persistent first (lvs.dr.lvs_arp_suppress with persist: true), or set persist: false.'
        % SYSCTL_RUN)
    # Check mode warns (an earlier task may persist it), persist=false is what the running system has anyway.
    result = run(BOTH, check=True)
    assert result['changed'] is True and result['warnings'] == [
        'Would be refused unless the suppression is in place when the play runs for real: ' + msg]
    assert run(dict(BOTH, persist=False))['changed'] is True
    run(dict(BOTH, persist=False, state='absent'))
    # A boot file of lvs_arp_suppress where systemd-sysctl reads: the suppression comes back.
    h.files[SYSCTL_BOOT] = SUPPRESS_MARK + 'net.ipv4.conf.all.arp_ignore = 1\n'
    assert run(BOTH)['changed'] is True


def test_a_vip_already_in_the_boot_record_only_warns(host):
    h = host['host']
    run(BOTH)
    h.files[SYSCTL_RUN] = SUPPRESS_MARK
    h.calls[:] = []
    result = run(BOTH)
    assert result['changed'] is False and h.mutations() == []
    assert result['warnings'][0].startswith('ARP for VIP 198.51.100.100 is suppressed on the running system only')


def test_arptables_rules_of_the_running_system_only_are_refused(host):
    h = FakeHost(arp=(0, 0), arptables=ARPTABLES_100)
    host['host'] = h
    h.files[ARP_RUN] = arptables_record()
    assert refused(h, BOTH).startswith(
        'ARP for VIP 198.51.100.100 is suppressed on the running system only (its arptables rules are recorded in '
        '%s only: lvs_arp_suppress with persist: false)' % ARP_RUN)
    # Another VIP's rules in the runtime record are no evidence about this one.
    h.files[ARP_RUN] = arptables_record('198.51.100.101')
    assert run(BOTH)['changed'] is True
    run(dict(BOTH, state='absent'))
    # Recorded for boot as well, or sysctl protecting too: it comes back.
    h.files[ARP_RUN] = arptables_record()
    h.files[ARP_BOOT] = arptables_record()
    assert run(BOTH)['changed'] is True
    run(dict(BOTH, state='absent'))
    del h.files[ARP_BOOT]
    h.set_arp(1, 2)
    assert run(BOTH)['changed'] is True


def test_lvs_realservers_check_mode_with_protection_planned_says_nothing_of_boot(host, monkeypatch):
    h = host['host']
    h.files[SYSCTL_RUN] = SUPPRESS_MARK
    monkeypatch.setattr(lvs_vip, 'VipEngine', functools.partial(_vip.VipEngine, protection_planned=True))
    result = run(BOTH, check=True)
    assert result['changed'] is True and result.get('warnings') is None
