#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: lvs_realserver
short_description: Converge an LVS-DR real server in one call, in the safety order
version_added: 0.1.0
description:
  - The whole real-server state of one of the guide's four methods in a single module call. It does the work of
    M(lvs.dr.lvs_arp_suppress), M(lvs.dr.lvs_redirect) and M(lvs.dr.lvs_vip) with the same code (their engines
    in the collection's private module_utils), one step after the other on the host. The role
    C(lvs.dr.lvs_dr_realserver) runs it; one call per host instead of five or six keeps a converge of a large
    fleet short (see the collection's docs/performance.md).
  - Every input is validated before the first change (addresses and their sizes, families, ports, interfaces, the
    arptables binary and real IP), so bad input fails with nothing changed on the host.
  - O(state=present) runs, in this order, the ARP protection of O(method) (V(sysctl) or V(arptables)) or its
    REDIRECT rules (V(iptables) or V(firewalld), one step per protocol); the VIPs (V(sysctl) and V(arptables) only);
    then the removal of what is no longer wanted, VIPs first, then REDIRECT rules, arptables rules and sysctl
    values. A host never holds a VIP it would answer ARP for, not even between two steps.
  - O(vip) and O(services) are the whole set. What the collection owns beyond them goes, each thing only where the
    collection recorded or marked it as its own (see the three modules) - every part of another method, a VIP
    dropped from O(vip), the REDIRECT rules of a VIP or service no longer listed, the arptables rules of a VIP no
    longer listed.
  - O(state=absent) removes everything the collection owns on the host, whatever O(method), O(vip) and O(services)
    are. The VIPs go first, then the REDIRECT rules of both backends, the arptables rules and the sysctl values
    (restored to what they were before, where the live value is still the collection's).
  - Each step reports what it did in RV(steps); RV(actions) lists every change in the order it was (or, in check
    mode, would be) applied.
author: lvs.dr contributors (@lvs-dr)
options:
  state:
    description: V(present) makes the host a real server with O(method); V(absent) removes all the collection set.
    type: str
    choices: [present, absent]
    default: present
  method:
    description:
      - How the host accepts traffic for the VIPs without answering ARP for them (the guide's four methods).
      - V(sysctl) holds the VIPs on O(vip_interface) and sets C(arp_ignore)/C(arp_announce) (see
        M(lvs.dr.lvs_arp_suppress)); V(arptables) holds them and drops and mangles ARP for them; V(iptables) and
        V(firewalld) hold no VIP and redirect the VIPs' traffic to the host with a C(nat) REDIRECT rule per VIP,
        port and protocol (see M(lvs.dr.lvs_redirect)).
    type: str
    choices: [sysctl, arptables, iptables, firewalld]
    default: sysctl
  vip:
    description:
      - The virtual IPs, IPv4 and IPv6, as an address or with a host prefix (C(/32), C(/128); another prefix is
        accepted on an O(vip_interface) other than C(lo)). IPv6 VIPs need no ARP suppression.
      - Required with O(state=present), and not empty. An empty list is refused (a host whose inventory failed to
        load would drop every VIP it holds and leave service); use O(state=absent) to remove them all.
    type: list
    elements: str
  services:
    description:
      - The ports and protocols the VIPs serve; the REDIRECT methods need one rule per VIP, port and protocol.
      - Required with O(state=present) and O(method=iptables) or O(method=firewalld).
    type: list
    elements: dict
    suboptions:
      port:
        description: TCP or UDP port, 1 to 65535.
        type: int
        required: true
      protocol:
        description: The protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
  vip_interface:
    description:
      - Where the VIPs go for O(method=sysctl) and O(method=arptables).
      - sysctl cannot protect a VIP held on the interface facing the director, so with O(method=sysctl) an IPv4 VIP
        must be on C(lo).
    type: str
    default: lo
  sysctl_interfaces:
    description:
      - O(method=sysctl), the scope of C(arp_ignore)/C(arp_announce) (C(all) and/or interface names).
      - Without C(all), name C(default) too, for interfaces created later; see M(lvs.dr.lvs_arp_suppress).
    type: list
    elements: str
    default: [all]
  arp_ignore:
    description:
      - O(method=sysctl), the C(arp_ignore) value.
      - Not V(3), which still answers ARP for a global-scope VIP on C(lo); see M(lvs.dr.lvs_arp_suppress).
    type: int
    choices: [1, 2, 8]
    default: 1
  arp_announce:
    description: O(method=sysctl), the C(arp_announce) value.
    type: int
    choices: [1, 2]
    default: 2
  interface:
    description:
      - O(method=arptables), the interface facing the director, whose primary address becomes the ARP source
        address in place of a VIP. Default the interface of the IPv4 default route.
    type: str
  real_ip:
    description: O(method=arptables), that address given directly (mutually exclusive with O(interface)).
    type: str
  persist:
    description:
      - Make every change survive a reboot (sysctl.d file, saved arptables and iptables rules, firewalld's
        permanent configuration, the boot unit that brings the VIPs back), as the three modules describe.
      - V(false) changes the running system only and leaves the boot records of an earlier persistent run as they
        are, a former method's too, so a VIP that comes back at boot comes back with the protection it had.
        O(state=absent) always takes both layers.
    type: bool
    default: true
extends_documentation_fragment:
  - lvs.dr.attributes
attributes:
  check_mode:
    support: full
    details:
      - The steps are predicted one after the other without changing anything, so a later step reads the host as it
        is, not as an earlier step would leave it (on a fresh host the VIP step also predicts its changes).
  diff_mode:
    support: full
  idempotent:
    support: full
  platform:
    platforms: linux
requirements:
  - pyroute2 (Python library on the managed host), and C(ip) with O(persist=true).
  - C(arptables) with O(method=arptables); C(iptables)/C(ip6tables) (and their -save/-restore tools with
    O(persist=true)) with O(method=iptables); a running firewalld with O(method=firewalld).
notes:
  - The module installs no packages and starts no services; the role does (firewalld for O(method=firewalld)) and
    also opens the VIPs' services in the firewalld zone.
  - The steps warn as the single modules do, among others about a sysctl scope without C(all) or C(default)
    (M(lvs.dr.lvs_arp_suppress)) and, unless O(method=arptables), about an interface that routes IPv4 without an
    IPv4 address of its own (M(lvs.dr.lvs_vip)).
seealso:
  - module: lvs.dr.lvs_vip
  - module: lvs.dr.lvs_arp_suppress
  - module: lvs.dr.lvs_redirect
'''

EXAMPLES = r'''
- name: A real server with the VIP on lo and arp_ignore/arp_announce
  lvs.dr.lvs_realserver:
    method: sysctl
    vip: [198.51.100.100, 2001:db8::100]

- name: The same host switched to REDIRECT rules (the VIP and the sysctl values go)
  lvs.dr.lvs_realserver:
    method: iptables
    vip: [198.51.100.100]
    services:
      - port: 80
      - port: 53
        protocol: udp

- name: Take the host out of LVS-DR entirely
  lvs.dr.lvs_realserver:
    state: absent
'''

RETURN = r'''
actions:
  description: Every change, in the order it was (or would be, in check mode) applied, over all steps.
  returned: always
  type: list
  elements: str
  sample: [set /proc/sys/net/ipv4/conf/all/arp_ignore to 1, add 198.51.100.100/32 to lo]
steps:
  description:
    - One entry per step in the order run. C(step) names it (C(sysctl), C(arptables), C(redirect iptables tcp),
      C(vip), or C(remove ...) for the residue of another method); C(changed) and C(actions) are the step's; the
      other keys are those the step's module returns (see M(lvs.dr.lvs_vip), M(lvs.dr.lvs_arp_suppress) and
      M(lvs.dr.lvs_redirect)).
  returned: always
  type: list
  elements: dict
  sample:
    - step: sysctl
      changed: false
      actions: []
      effective: {all: {arp_ignore: 1, arp_announce: 2}}
    - step: vip
      changed: true
      actions: [add 198.51.100.100/32 to lo]
      vips: [198.51.100.100/32]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    effective_arp, facing_interfaces, read_arp_sysctls, sysctl_suppresses)
from ansible_collections.lvs.dr.plugins.module_utils._inputs import check_not_empty, check_port, parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._netlink import PYROUTE2_MISSING, Netlink
from ansible_collections.lvs.dr.plugins.module_utils._plan import Plan, Refusal, speak
from ansible_collections.lvs.dr.plugins.module_utils._redirect import RedirectEngine
from ansible_collections.lvs.dr.plugins.module_utils._suppress import SYSCTL_DEFAULTS, ArptablesEngine, SysctlEngine
from ansible_collections.lvs.dr.plugins.module_utils._system import System
from ansible_collections.lvs.dr.plugins.module_utils._vip import VipEngine

REDIRECT = ('iptables', 'firewalld')
HOLDERS = ('sysctl', 'arptables')
VIP_FILE = '/etc/lvs-dr/vips.batch'
# The VIP step's refusals in this module's terms (the engine's default names lvs_vip's
# require_arp_suppression, which this module does not have).
VIP_HINTS = {
    'arp': ('The protection step did not cover it: with method sysctl list every interface facing the segment '
            'in sysctl_interfaces (or keep all) and keep arp_announce 2; or use method arptables.'),
    'ipv6': 'this module holds every VIP on vip_interface: set vip_interface: lo, or leave the IPv6 VIPs out of vip.',
}


def steps(params, check_mode, system, netlink, vips):
    """(name, engine) in the safety order: protection or REDIRECT, VIPs, then what other methods left.
    The removal steps take what the collection owns in the runtime layer, and in the persistent one
    too with persist=true or state=absent: persist=false leaves every boot layer as it is, a former
    method's too, so a VIP that comes back at boot comes back with the protection it had."""
    p = params
    method = p['method'] if p['state'] == 'present' else None
    vips4 = [str(vip) for vip in vips if vip.version == 4]
    # What the present steps want, so the removal steps leave it: rules of VIPs and services no
    # longer listed go, the others stay.
    keep_rules = [(vip.version, vip.ip, service['port'], service['protocol'])
                  for vip in vips for service in p['services'] or []]
    keep_arp = [str(vip.ip) for vip in vips if vip.version == 4] if method == 'arptables' else []
    vips = [str(vip) for vip in vips]
    persist = p['persist']
    clean = persist or p['state'] == 'absent'
    result = []
    if method == 'sysctl':
        result.append(('sysctl', SysctlEngine(system, dict(
            state='present', persist=persist, interfaces=p['sysctl_interfaces'], arp_ignore=p['arp_ignore'],
            arp_announce=p['arp_announce'], sysctl_file=SYSCTL_DEFAULTS['sysctl_file']), check_mode, netlink)))
    if method == 'arptables' and vips4:
        result.append(('arptables', ArptablesEngine(system, dict(
            state='present', persist=persist, vip=vips4, real_ip=p['real_ip'], interface=p['interface']),
            check_mode, netlink)))
    if method in REDIRECT:
        for protocol in sorted(set(service['protocol'] for service in p['services'])):
            ports = [service['port'] for service in p['services'] if service['protocol'] == protocol]
            result.append(('redirect %s %s' % (method, protocol), RedirectEngine(system, dict(
                backend=method, state='present', persist=persist, vip=vips, ports=ports, protocols=[protocol]),
                check_mode)))
    vip_params = dict(persist_file=VIP_FILE, require_arp_suppression=True, arp_interfaces=None)
    if method in HOLDERS and vips:
        # In check mode the protection step above has not really happened: its gate would only warn.
        planned = check_mode and bool(result)
        result.append(('vip', VipEngine(system, netlink, dict(
            vip_params, state='present', persist=persist, vip=vips, interface=p['vip_interface'], exclusive=True),
            check_mode, protection_planned=planned, mangle_planned=planned and method == 'arptables',
            hints=VIP_HINTS)))
    else:
        result.append(('remove vips', VipEngine(system, netlink, dict(
            vip_params, state='absent', persist=clean, vip=None, interface=None), check_mode, hints=VIP_HINTS)))
    for backend in REDIRECT:
        result.append(('remove redirect %s' % backend, RedirectEngine(system, dict(
            backend=backend, state='absent', persist=clean, vip=None, ports=None, protocols=None),
            check_mode, keep=keep_rules if backend == method else ())))
    # Check mode: the earlier steps only planned the VIPs' removal or the new method's protection, which the
    # real run puts in force before these steps read the host.
    gone = check_mode
    absent = dict(SYSCTL_DEFAULTS, state='absent', persist=clean, vip=None, real_ip=None, interface=None)
    result.append(('remove arptables', ArptablesEngine(system, absent, check_mode, netlink, keep=keep_arp,
                                                       vips_planned_gone=gone)))
    if method != 'sysctl':
        result.append(('remove sysctl', SysctlEngine(system, absent, check_mode, netlink, vips_planned_gone=gone)))
    return result


def validate(params):
    """What the argument spec cannot say, before any step reads the host; the parsed VIPs."""
    p = params
    if p['state'] != 'present':
        return []
    try:
        check_not_empty('vip', p['vip'], 'with state present the host would hold no VIP, and every VIP the collection '
                        'holds here would be removed: a host whose inventory failed to load would drop out of service '
                        'while the directors\' health checks on its real IP still pass. Name the VIPs (the role: '
                        'lvs_dr_realserver_vips), or use state: absent to take the host out of LVS-DR.')
        vips = parse_vips(p['vip'], host_prefix_only=p['method'] in HOLDERS and p['vip_interface'] == 'lo')
        for service in p['services'] or []:
            check_port(service['port'])
    except ValueError as e:
        raise Refusal(str(e))
    if p['method'] in REDIRECT and not p['services']:
        raise Refusal('method is %s: services must name at least one port (a REDIRECT rule per VIP, port and '
                      'protocol).' % p['method'])
    return vips


def refuse_sysctl_off_lo(params, vips):
    """After the steps validated the interfaces, so a missing one is named as such."""
    p = params
    if p['state'] == 'present' and p['method'] == 'sysctl' and p['vip_interface'] != 'lo' and any(vip.version == 4 for vip in vips):
        raise Refusal('method is sysctl but vip_interface is %s: arp_ignore/arp_announce do not keep a host from '
                      'answering ARP for an address on the interface that receives the request; hold the VIPs on lo, '
                      'or use method arptables.' % p['vip_interface'])


def refuse_uncovered_sysctl(params, system, vips):
    """Method sysctl: the values the sysctl step will leave must protect the VIPs on every interface facing the
    segment, or the VIP step would refuse after the sysctl step changed the host. Decided here, before the first
    change, from the live values with the step's own applied over them."""
    p = params
    if p['state'] != 'present' or p['method'] != 'sysctl' or not any(vip.version == 4 for vip in vips):
        return
    values = read_arp_sysctls(system)
    for name in p['sysctl_interfaces']:
        values.setdefault(name, {}).update(arp_ignore=p['arp_ignore'], arp_announce=p['arp_announce'])
    effective = effective_arp(values)
    missing = [name for name in facing_interfaces(effective) if not sysctl_suppresses(effective[name])]
    if missing:
        raise Refusal('sysctl_interfaces %s with arp_ignore %d and arp_announce %d would leave ARP for the VIPs '
                      'unsuppressed on %s: the host would answer ARP for them and take the service from the director. '
                      'Nothing was changed. %s' % (', '.join(p['sysctl_interfaces']), p['arp_ignore'],
                                                   p['arp_announce'], ', '.join(missing), VIP_HINTS['arp']))


def converge(module, system, netlink, engines):
    """Validate every step and the whole request, then run the steps one after the other: each step's plan
    is applied before the next step reads the host. engines: filled with the steps' engines, whose warnings
    the module relays."""
    params, check_mode = module.params, module.check_mode
    vips = validate(params)
    system.lock()
    todo = steps(params, check_mode, system, netlink, vips)
    engines.extend(engine for dummy, engine in todo)
    for dummy, engine in todo:
        engine.validate()
    refuse_sysctl_off_lo(params, vips)
    refuse_uncovered_sysctl(params, system, vips)
    done, before, after, actions = [], {}, {}, []
    for name, engine in todo:
        plan = Plan(check_mode)
        before[name], after[name], result = engine.run(plan)
        plan.execute()
        done.append(dict(result, step=name, changed=plan.changed, actions=plan.actions))
        actions.extend(plan.actions)
    return done, before, after, actions


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            method=dict(type='str', choices=['sysctl', 'arptables', 'iptables', 'firewalld'], default='sysctl'),
            vip=dict(type='list', elements='str'),
            services=dict(type='list', elements='dict', options=dict(
                port=dict(type='int', required=True),
                protocol=dict(type='str', choices=['tcp', 'udp'], default='tcp'),
            )),
            vip_interface=dict(type='str', default='lo'),
            sysctl_interfaces=dict(type='list', elements='str', default=['all']),
            arp_ignore=dict(type='int', choices=[1, 2, 8], default=1),
            arp_announce=dict(type='int', choices=[1, 2], default=2),
            interface=dict(type='str'),
            real_ip=dict(type='str'),
            persist=dict(type='bool', default=True),
        ),
        required_if=[('state', 'present', ('vip',))],
        mutually_exclusive=[('interface', 'real_ip')],
        supports_check_mode=True,
    )
    if PYROUTE2_MISSING:
        module.fail_json(msg=missing_required_lib('pyroute2'))
    system, netlink, engines = System(module), Netlink(), []
    try:
        done, before, after, actions = speak(module, engines, lambda: converge(module, system, netlink, engines))
    finally:
        netlink.close()
    result = dict(changed=bool(actions), actions=actions, steps=done)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
