# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The safety order of lvs_realserver's steps (which engines, in which order, with what). The
engines themselves are unit-tested through their modules and run for real in the integration
target tests/integration/targets/lvs_realserver."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.lvs.dr.plugins.module_utils import _vip
from ansible_collections.lvs.dr.plugins.module_utils._inputs import parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal
from ansible_collections.lvs.dr.plugins.modules import lvs_realserver

VIPS = ['198.51.100.100', '2001:db8::100']
SERVICES = [{'port': 80, 'protocol': 'tcp'}, {'port': 9999, 'protocol': 'udp'}]
REMOVALS = ['remove redirect iptables', 'remove redirect firewalld', 'remove arptables']


class Module(object):
    def __init__(self, check_mode=False, **params):
        self.check_mode = check_mode
        self.params = dict(state='present', method='sysctl', vip=VIPS, services=SERVICES, vip_interface='lo',
                           sysctl_interfaces=['all'], arp_ignore=1, arp_announce=2, interface=None,
                           real_ip='198.51.100.11', persist=True)
        self.params.update(params)


def steps(**params):
    module = Module(**params)
    vips = parse_vips(module.params['vip']) if module.params['state'] == 'present' else []
    return lvs_realserver.steps(module.params, module.check_mode, None, None, vips)


@pytest.mark.parametrize('method, names', [
    ('sysctl', ['sysctl', 'vip'] + REMOVALS),
    ('arptables', ['arptables', 'vip'] + REMOVALS + ['remove sysctl']),
    ('iptables', ['redirect iptables tcp', 'redirect iptables udp', 'remove vips'] + REMOVALS + ['remove sysctl']),
    ('firewalld', ['redirect firewalld tcp', 'redirect firewalld udp', 'remove vips'] + REMOVALS + ['remove sysctl']),
])
def test_protection_then_vips_then_what_is_no_longer_wanted(method, names):
    assert [name for name, dummy in steps(method=method)] == names


def test_absent_removes_vips_first_and_sysctl_last():
    assert [name for name, dummy in steps(state='absent')] == ['remove vips'] + REMOVALS + ['remove sysctl']


def test_the_lists_are_the_whole_set():
    engines = dict(steps(method='iptables'))
    keep = engines['remove redirect iptables'].keep
    assert sorted((str(ip), port, proto) for dummy, ip, port, proto in keep) == [
        ('198.51.100.100', 80, 'tcp'), ('198.51.100.100', 9999, 'udp'),
        ('2001:db8::100', 80, 'tcp'), ('2001:db8::100', 9999, 'udp')]
    assert engines['remove redirect firewalld'].keep == ()
    assert engines['remove arptables'].keep == []
    engines = dict(steps(method='arptables'))
    assert engines['remove arptables'].keep == ['198.51.100.100']
    assert engines['arptables'].params['vip'] == ['198.51.100.100/32']
    assert engines['vip'].params['exclusive'] is True


@pytest.mark.parametrize('persist', [True, False])
def test_every_step_follows_persist_and_absent_takes_both_layers(persist):
    # persist=false leaves the boot layers, a former method's too: a persisted VIP comes back at
    # boot with the protection it was added under (removing only that would leave it unprotected).
    for name, engine in steps(method='iptables', persist=persist):
        assert engine.params['persist'] is persist, name
    for name, engine in steps(state='absent', persist=persist):
        assert engine.params['persist'] is True, name


def test_check_mode_vip_gate_knows_the_protection_step_ran_before_it():
    assert dict(steps(check_mode=True))['vip'].protection_planned is True
    assert dict(steps())['vip'].protection_planned is False
    assert dict(steps(method='arptables', vip=['2001:db8::100'], check_mode=True))['vip'].protection_planned is False
    # Only the arptables step plans the mangle rule that makes an address-less interface harmless.
    assert dict(steps(method='arptables', check_mode=True))['vip'].mangle_planned is True
    assert dict(steps(check_mode=True))['vip'].mangle_planned is False
    assert dict(steps(method='arptables'))['vip'].mangle_planned is False


class OneInterface(object):
    """The VIP engine's validate() only looks interfaces up."""

    def link_index(self, name):
        return {'lo': 1, 'eth0': 2}.get(name)


def test_vip_refusals_name_this_modules_options_not_lvs_vips():
    # lvs_realserver has no require_arp_suppression: the VIP step's refusals must not offer it.
    module = Module(method='arptables', vip_interface='eth0')
    engine = dict(lvs_realserver.steps(module.params, False, None, OneInterface(), parse_vips(VIPS)))['vip']
    with pytest.raises(Refusal) as refused:
        engine.validate()
    assert engine.warnings == []
    assert refused.value.msg == (
        'IPv6 VIP 2001:db8::100 on eth0: neighbour discovery answers for it on that interface and nothing in '
        'lvs.dr suppresses that; this module holds every VIP on vip_interface: set vip_interface: lo, or leave '
        'the IPv6 VIPs out of vip.')
    gate = _vip.describe_unprotected(parse_vips(VIPS)[0], ['eth1'], {'eth1': {'arp_ignore': 1, 'arp_announce': 1}},
                                     'lo', engine.hints['arp'])
    assert gate.endswith('The protection step did not cover it: with method sysctl list every interface facing '
                         'the segment in sysctl_interfaces (or keep all) and keep arp_announce 2; or use method '
                         'arptables.')
    for name, engine in lvs_realserver.steps(module.params, False, None, None, parse_vips(VIPS)) + steps(state='absent'):
        if isinstance(engine, _vip.VipEngine):
            assert not any('require_arp_suppression' in hint for hint in engine.hints.values()), name


def test_check_mode_suppression_removal_knows_the_earlier_steps_only_planned():
    # In check mode the VIPs' removal or the new protection is only planned before the suppression steps.
    for params in (dict(method='iptables'), dict(state='absent'), dict(method='arptables')):
        engines = dict(steps(check_mode=True, **params))
        assert engines['remove arptables'].vips_planned_gone is True
        assert engines['remove sysctl'].vips_planned_gone is True
        assert dict(steps(**params))['remove sysctl'].vips_planned_gone is False


@pytest.mark.parametrize('params, phrase', [
    (dict(vip=[]), 'vip is an empty list: with state present the host would hold no VIP'),
    (dict(vip=['255.255.255.255']), 'is not usable as a virtual IP'),
    (dict(vip=['198.51.100.100/24']), 'must be a host address (/32)'),
    (dict(services=[{'port': 0, 'protocol': 'tcp'}]), 'Port 0 is out of range'),
    (dict(method='iptables', services=[]), 'services must name at least one port'),
])
def test_validate_refuses_before_reading_the_host(params, phrase):
    with pytest.raises(Refusal) as refused:
        lvs_realserver.validate(Module(**params).params)
    assert phrase in refused.value.msg


def test_validate_absent_takes_no_list():
    assert lvs_realserver.validate(Module(state='absent', vip=[]).params) == []


class ProcHost(object):
    """/proc/sys/net/ipv4/conf of a host with lo and eth0, all values 0: what refuse_uncovered_sysctl reads."""

    def __init__(self, **values):
        self.values = dict(('%s/%s' % (name, key), values.get(name, 0))
                           for name in ('all', 'default', 'lo', 'eth0') for key in ('arp_ignore', 'arp_announce'))

    def listdir(self, path):
        return ['all', 'default', 'eth0', 'lo']

    def read(self, path):
        value = self.values.get('/'.join(path.split('/')[-2:]))
        return None if value is None else '%d\n' % value


@pytest.mark.parametrize('params, refused', [
    (dict(), False),
    (dict(arp_announce=1), True),
    (dict(sysctl_interfaces=['lo']), True),
    (dict(sysctl_interfaces=['eth0', 'default']), False),
    (dict(vip=['2001:db8::100'], arp_announce=1), False),
    (dict(method='arptables', arp_announce=1), False),
])
def test_sysctl_scope_and_values_are_decided_before_the_first_change(params, refused):
    p = Module(**params).params
    if refused:
        with pytest.raises(Refusal) as e:
            lvs_realserver.refuse_uncovered_sysctl(p, ProcHost(), parse_vips(p['vip']))
        assert 'unsuppressed on eth0' in e.value.msg and 'Nothing was changed' in e.value.msg
    else:
        lvs_realserver.refuse_uncovered_sysctl(p, ProcHost(), parse_vips(p['vip']))
