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
from ansible_collections.lvs.dr.plugins.module_utils._addresses import parse_vips
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
    return lvs_realserver.steps(module, None, None, vips)


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


class Refused(Exception):
    pass


class RefusingModule(Module):
    def fail_json(self, msg, **dummy):
        raise Refused(msg)

    def warn(self, text):
        raise AssertionError('unexpected warning: %s' % text)


class OneInterface(object):
    """The VIP engine's validate() only looks interfaces up."""

    def link_index(self, name):
        return {'lo': 1, 'eth0': 2}.get(name)


def test_vip_refusals_name_this_modules_options_not_lvs_vips():
    # lvs_realserver has no require_arp_suppression: the VIP step's refusals must not offer it.
    module = RefusingModule(method='arptables', vip_interface='eth0')
    engine = dict(lvs_realserver.steps(module, None, OneInterface(), parse_vips(VIPS)))['vip']
    with pytest.raises(Refused) as refused:
        engine.validate()
    assert str(refused.value) == (
        'IPv6 VIP 2001:db8::100 on eth0: neighbour discovery answers for it on that interface and nothing in '
        'lvs.dr suppresses that; this module holds every VIP on vip_interface: set vip_interface: lo, or leave '
        'the IPv6 VIPs out of vip.')
    gate = _vip.describe_unprotected(parse_vips(VIPS)[0], ['eth1'], {'eth1': {'arp_ignore': 1, 'arp_announce': 1}},
                                     'lo', engine.hints['arp'])
    assert gate.endswith('The protection step did not cover it: with method sysctl list every interface facing '
                         'the segment in sysctl_interfaces (or keep all) and keep arp_announce 2; or use method '
                         'arptables.')
    for name, engine in lvs_realserver.steps(module, None, None, parse_vips(VIPS)) + steps(state='absent'):
        if isinstance(engine, _vip.VipEngine):
            assert not any('require_arp_suppression' in hint for hint in engine.hints.values()), name
