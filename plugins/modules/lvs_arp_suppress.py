#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: lvs_arp_suppress
short_description: Keep an LVS-DR real server from answering or announcing ARP for the VIPs
version_added: 0.1.0
description:
  - On an LVS Direct Routing real server every VIP is held locally, but only the director may answer ARP for
    it; a real server that answers or announces the VIP steals the service. This module suppresses that ARP
    traffic in one of two ways and reports the effective kernel settings in RV(effective).
  - O(method=sysctl) sets C(arp_ignore) and C(arp_announce) on O(interfaces), live through
    C(/proc/sys/net/ipv4/conf/<name>/) and, with O(persist=true), in the sysctl.d file O(sysctl_file) that the
    module owns. The kernel applies the maximum of C(all) and the receiving interface, so either scope works;
    the VIP must then be held on another interface (normally C(lo), see M(lvs.dr.lvs_vip)).
  - O(method=arptables) adds, per VIP, an C(INPUT) rule dropping ARP requests for the VIP and an C(OUTPUT)
    rule rewriting the VIP as ARP source address into O(real_ip) (C(--mangle-ip-s)). The chain names are the
    ones the installed arptables knows (C(INPUT)/C(OUTPUT), or C(IN)/C(OUT) of arptables_jf). This also
    protects a VIP held on the interface facing the director.
  - The rules go to the head of their chains. A rule of the module found behind another rule that may decide the
    same ARP packet first (an C(ACCEPT) for a client or a subnet, an inverted match; only a rule on another single
    address cannot) is never reached for those packets, so the module copies it to the head and then deletes the
    old copy by its number; the VIP is not unguarded in between. A matching rule that is not the module's is left
    in place; where it is reached first the module adds nothing (and does not take it over), otherwise it puts
    its own copy at the head. Rules that earlier releases appended stay where they are while they are reached
    first. M(lvs.dr.lvs_vip) counts a rule as protection only where it is reached first in the same way. The
    order is checked on every run, not at boot; when a tool puts a rule ahead at boot, the next run moves the
    module's rules back ahead of it.
  - Ownership. Before it first changes a sysctl the module records the value in force (in a comment of
    O(sysctl_file), or in C(/run/lvs-dr/<basename of sysctl_file>) with O(persist=false)). O(state=absent)
    writes that previous value back only where the live value is still the one the module set, and removes the
    record (see O(persist)); it never writes V(0) blindly. arptables rules the module added are recorded in
    C(/etc/lvs-dr/arptables-owned.json) (C(/run/lvs-dr/arptables-owned.json) with O(persist=false));
    O(state=absent) deletes only those, for the VIPs given or, without O(vip), all of them. A matching rule that was
    already there is left alone.
  - O(method=arptables) with O(state=absent) is safe where arptables was never used. Without the C(arptables) binary
    no rule of the module can be in force, so it changes nothing, except that with O(persist=true) it still
    removes the module's own record, saved table and boot unit if they are left over.
  - Everything is decided before the first change, and a request that would leave a VIP that M(lvs.dr.lvs_vip)
    holds answering ARP is refused with nothing changed. The rule is the one M(lvs.dr.lvs_vip) applies before it
    adds a VIP (every interface but C(lo) faces the segment; sysctl values protect a VIP held on another
    interface, the DROP and mangle rules protect it everywhere), judged on the values and rules as the run would
    leave them. Refused are O(state=absent), and a O(state=present) whose values or scope do not suppress on
    every interface facing the segment (O(arp_announce=1), a scope that misses an interface), while such a VIP is
    held; remove the VIPs first (M(lvs.dr.lvs_vip) O(state=absent), or M(lvs.dr.lvs_realserver) or the role with
    O(state=absent), which remove them in the safe order). A removal is not refused where the other method keeps
    protecting the VIPs, so a switch from one method to the other passes once the new one is in force. Where no
    VIP is held yet, a O(state=present) that does not suppress everywhere only warns.
  - Ownership records are written before the change they record and forgotten after the change is undone. The
    sysctl record (with the values found) is written before the first value is set, the arptables record before
    a rule is added, and each is rewritten only after a value is restored or a rule deleted.
author: lvs.dr contributors (@lvs-dr)
options:
  method:
    description:
      - V(sysctl) sets C(arp_ignore)/C(arp_announce); V(arptables) adds DROP and mangle rules per VIP.
      - Options of the other method are refused, not ignored.
    type: str
    choices: [sysctl, arptables]
    default: sysctl
  state:
    description:
      - V(present) suppresses ARP as described, V(absent) lifts what the module set.
      - With O(method=sysctl), V(absent) lifts everything recorded for O(sysctl_file); O(interfaces),
        O(arp_ignore) and O(arp_announce) are not used. With O(method=arptables) it removes the module's rules
        for the VIPs in O(vip), or every rule in its ownership record when O(vip) is omitted.
      - V(absent) is refused while a VIP that M(lvs.dr.lvs_vip) holds would be left answering ARP (see above).
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - O(method=sysctl), V(true) writes O(sysctl_file) (applied at boot by C(systemd-sysctl) and, for
        per-interface keys, again by C(systemd-udevd) when the interface appears); V(false) changes only the
        running system and keeps the record under C(/run/lvs-dr). It leaves O(sysctl_file) of an earlier
        persistent run as it is (with a warning where it differs), as M(lvs.dr.lvs_vip) leaves its boot record;
        the boot layers change together, so a persisted VIP never comes back at boot without its suppression.
        O(state=absent) with O(persist=true) removes both records.
      - O(method=arptables), V(true) saves the table the distribution's way (see notes) and enables the unit that
        restores it at boot. V(false) changes only the running rules and leaves any saved table as it is, so a
        rule removed with O(persist=false) may come back at the next boot.
    type: bool
    default: true
  interfaces:
    description:
      - O(method=sysctl) only. Where to set the values, V(all), interface names, or both. Default V([all]).
      - V(all) covers every current and future interface, container veths included. A per-interface key covers
        only that name; at boot it is applied when an interface of that name appears, so it misses a NIC that
        is renamed afterwards. An interface created later (a VLAN, a bond, a bridge) starts with the values of
        V(default); name V(default) too to cover those without V(all). The module warns when neither is named
        and the larger of their values does not suppress.
      - Each interface must exist.
    type: list
    elements: str
  arp_ignore:
    description:
      - O(method=sysctl) only. The C(arp_ignore) value. Default V(1).
      - V(1) replies only for addresses of the receiving interface, which is what DR needs; V(2) also requires the
        sender in the same subnet.
      - V(8) never replies, for the host's own addresses either, so the host is cut off once the neighbours' ARP
        caches expire. It is refused on V(all), on V(default), on an interface that holds an IPv4 address and on
        one that IPv4 routes lead out of (any table, the default route's included); it is accepted only on an
        interface without IPv4 address and route, where it changes nothing for DR.
      - V(3) is not offered. It only keeps host-scope addresses quiet, and the VIP on C(lo) has global scope, so
        the host would still answer ARP for it.
    type: int
    choices: [1, 2, 8]
  arp_announce:
    description:
      - O(method=sysctl) only. The C(arp_announce) value. Default V(2).
      - V(2) is what DR needs, it always announces the best address of the outgoing interface and never the VIP.
        V(1) only avoids addresses outside the target's subnet and can still announce a VIP from that subnet.
    type: int
    choices: [1, 2]
  sysctl_file:
    description:
      - O(method=sysctl) only. The sysctl.d file the module owns. Default V(/etc/sysctl.d/90-lvs-dr-arp.conf).
      - With O(state=present) it must be a file C(systemd-sysctl) reads, so the suppression comes back at boot
        with the VIPs, a name ending in C(.conf) in C(/etc/sysctl.d), C(/run/sysctl.d), C(/usr/local/lib/sysctl.d),
        C(/usr/lib/sysctl.d) or C(/lib/sysctl.d). With O(persist=true) a file of the same name in a directory read
        before it (which C(systemd-sysctl) would read instead) is refused. O(state=absent) takes any path an
        earlier release wrote, so that file can be removed.
      - "The path must be absolute and normalised and hold only letters, digits and C(_ . / + @ : -)."
      - An existing file there that the module did not write is refused.
      - Interface names containing dots are written with C(/) separators (C(net/ipv4/conf/eth0.100/arp_ignore)).
    type: path
  vip:
    description:
      - O(method=arptables) only. The IPv4 VIPs, as V(ADDRESS) or V(ADDRESS/32).
      - An address this host holds on an interface other than C(lo) that M(lvs.dr.lvs_vip) did not add (its real
        IP, for example) is refused, its DROP rule would stop the host answering ARP for its own address.
      - Required with O(state=present). With O(state=absent) it may be omitted to remove every rule the module
        owns, including rules of VIPs no longer in the inventory.
      - IPv6 VIPs are refused, IPv6 has no ARP and neighbour discovery answers only for addresses of the receiving
        interface, so they need no suppression.
    type: list
    elements: str
  real_ip:
    description:
      - O(method=arptables) only. The IPv4 address of the real server that replaces the VIP as source of
        outgoing ARP packets. Requires O(vip).
      - It must be an IPv4 address this host holds on an interface other than C(lo), and not a VIP. Another host's
        address (the gateway's) is refused, ARP carrying it with this host's MAC would poison the segment's caches.
      - Default the first (primary) IPv4 address of O(interface) that is not a VIP.
    type: str
  interface:
    description:
      - O(method=arptables) only. The interface facing the director, from which O(real_ip) is taken. Requires
        O(vip).
      - Default the interface of the IPv4 default route of the main table (the lowest metric first).
    type: str
extends_documentation_fragment:
  - lvs.dr.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
  platform:
    platforms: linux
requirements:
  - O(method=arptables) needs C(arptables) (arptables 0.0.5, the nft build of iptables, or arptables_jf) and
    C(arptables-restore) to restore at boot. Addresses and routes are read by netlink (no pyroute2 needed).
notes:
  - The module writes its rules into the saved table itself, with numeric addresses, rather than by
    C(arptables-save), because the nft build of C(arptables-save) prints the C(--mangle-ip-s) address as a
    resolved host name.
  - sysctl persistence. C(systemd-sysctl.service) applies O(sysctl_file) early at boot, and the udev rule
    C(99-systemd.rules) runs C(systemd-sysctl --prefix=/net/ipv4/conf/<name>) when a network interface is
    added, under its final name (sysctl.d(5)). A key for an interface renamed later is never applied; prefer
    V(all) unless other interfaces must keep answering ARP.
  - arptables persistence, RHEL family. When C(/usr/lib/systemd/system/arptables.service) exists, the module's rules
    are written into C(/etc/sysconfig/arptables) (replaced atomically, at the head of their chains) and
    C(arptables.service) is enabled by its C(WantedBy=) symlink, which works with or without a running systemd.
    Only the module's own lines change in that file, every other line stays as it is (rules saved but not loaded,
    comments), and rules other tools added to the live table are not saved. With O(state=absent) the module's
    lines are taken out and the file is kept; the service is disabled again only when the module enabled it and
    none of its rules remain.
  - arptables persistence, other distributions (Debian has no such service). The module's rules, and only
    those, are saved into C(/etc/lvs-dr/arptables.rules) (a file the module owns), restored at boot by the
    module's oneshot unit C(lvs-dr-arptables.service) (C(arptables-restore) with C(StandardInput=file:),
    systemd 236 or later, Debian 11 and 12 have 247 and 252).
    It runs C(Before=network-pre.target) and C(Wants=network-pre.target), so the rules are in place before any
    interface is up, and before C(lvs-dr-vips.service) of M(lvs.dr.lvs_vip), which requires it
    (C(RequiredBy=lvs-dr-vips.service)). When the restore fails, or the saved table is missing
    (C(AssertPathExists=)), the VIPs stay down at boot instead of coming up unprotected. With O(persist=true),
    file and unit are removed when no rule of the module remains.
  - Units are enabled by symlink and read at the next boot; the module applies the live settings itself.
  - Order matters, suppress ARP before adding the VIP and lift it only after removing the VIP
    (M(lvs.dr.lvs_vip) refuses an IPv4 VIP while ARP for it is not suppressed, and this module refuses to lift
    the suppression while it holds one).
seealso:
  - module: lvs.dr.lvs_vip
  - module: lvs.dr.lvs_redirect
'''

EXAMPLES = r'''
- name: Suppress ARP on every interface (arp_ignore=1, arp_announce=2), live and at boot
  lvs.dr.lvs_arp_suppress:
    method: sysctl

- name: Only on the interface facing the director, VLAN included
  lvs.dr.lvs_arp_suppress:
    interfaces: [eth0, eth0.100]

- name: arptables rules for two VIPs, real IP taken from the default route's interface
  lvs.dr.lvs_arp_suppress:
    method: arptables
    vip: [198.51.100.100, 198.51.100.101]

- name: Lift the sysctl suppression, restoring the previous values
  lvs.dr.lvs_arp_suppress:
    state: absent

- name: Remove the arptables rules of one VIP
  lvs.dr.lvs_arp_suppress:
    method: arptables
    vip: [198.51.100.101]
    state: absent

- name: Remove every arptables rule the module owns (a no-op where arptables is not installed)
  lvs.dr.lvs_arp_suppress:
    method: arptables
    state: absent
'''

RETURN = r'''
method:
  description: The method used.
  returned: always
  type: str
  sample: sysctl
effective:
  description:
    - Per interface (C(all) and C(default) excluded), the effective C(arp_ignore) and C(arp_announce), the
      maximum of C(all) and the interface, after the run (predicted in check mode).
  returned: always
  type: dict
  sample: {"eth0": {"arp_ignore": 1, "arp_announce": 2}, "lo": {"arp_ignore": 1, "arp_announce": 2}}
sysctl_file:
  description: The sysctl.d file holding the settings, null when nothing is persisted.
  returned: when O(method=sysctl)
  type: str
  sample: /etc/sysctl.d/90-lvs-dr-arp.conf
previous:
  description:
    - Per interface, the values in force before the module first set them; with O(state=absent) the ones it
      restored where the live value was still its own.
  returned: when O(method=sysctl)
  type: dict
  sample: {"all": {"arp_ignore": 0, "arp_announce": 0}}
rules:
  description:
    - The arptables DROP and mangle rules for the VIPs in O(vip) in the table after the run, in its order, as
      arptables arguments. Without O(vip), for the VIPs the module owned rules for before the run.
  returned: when O(method=arptables)
  type: list
  elements: list
  sample: [["-A", "INPUT", "-d", "198.51.100.100", "-j", "DROP"],
           ["-A", "OUTPUT", "-s", "198.51.100.100", "-j", "mangle", "--mangle-ip-s", "198.51.100.10"]]
real_ip:
  description: The address used in the mangle rules.
  returned: when O(method=arptables) and O(state=present)
  type: str
  sample: 198.51.100.10
persist_file:
  description: The saved arptables table restored at boot, null when there is none.
  returned: when O(method=arptables)
  type: str
  sample: /etc/lvs-dr/arptables.rules
unit:
  description: The systemd unit restoring the table at boot when it is enabled, else null.
  returned: when O(method=arptables)
  type: str
  sample: lvs-dr-arptables.service
actions:
  description: The changes made, or that would be made in check mode, in order.
  returned: always
  type: list
  elements: str
  sample: ["set /proc/sys/net/ipv4/conf/all/arp_ignore to 1", "write /etc/sysctl.d/90-lvs-dr-arp.conf"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.dr.plugins.module_utils._inputs import check_not_empty
from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal, run_single, speak
from ansible_collections.lvs.dr.plugins.module_utils._suppress import (
    METHOD_OPTIONS, SYSCTL_DEFAULTS, ArptablesEngine, SysctlEngine)
from ansible_collections.lvs.dr.plugins.module_utils._system import System


def check_request(params):
    """What the argument spec cannot say; the parameters with the method's defaults filled in."""
    method = params['method']
    other = 'arptables' if method == 'sysctl' else 'sysctl'
    stray = [name for name in METHOD_OPTIONS[other] if params[name] is not None]
    if stray:
        raise Refusal('%s: only with method=%s, not with method=%s.' % (', '.join(stray), other, method))
    # vip is optional for state=absent (remove all the module owns); required_if cannot say "and".
    if method == 'arptables' and params['state'] == 'present' and params['vip'] is None:
        raise Refusal('method is arptables and state is present but all of the following are missing: vip')
    try:
        check_not_empty('interfaces', params['interfaces'], 'it would suppress ARP nowhere; name all, or the '
                        'interfaces facing the segment.')
        check_not_empty('vip', params['vip'], 'name the VIPs; with state absent leave vip out to remove every rule '
                        'the module owns.')
    except ValueError as e:
        raise Refusal(str(e))
    for name, default in SYSCTL_DEFAULTS.items():
        if params[name] is None:
            params[name] = default
    return params


def main():
    module = AnsibleModule(
        argument_spec=dict(
            method=dict(type='str', choices=['sysctl', 'arptables'], default='sysctl'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persist=dict(type='bool', default=True),
            interfaces=dict(type='list', elements='str'),
            arp_ignore=dict(type='int', choices=[1, 2, 8]),
            arp_announce=dict(type='int', choices=[1, 2]),
            sysctl_file=dict(type='path'),
            vip=dict(type='list', elements='str'),
            real_ip=dict(type='str'),
            interface=dict(type='str'),
        ),
        mutually_exclusive=[('real_ip', 'interface')],
        required_by=dict(real_ip=('vip',), interface=('vip',)),
        supports_check_mode=True,
    )
    params = speak(module, [], lambda: check_request(dict(module.params)))
    engine = SysctlEngine if params['method'] == 'sysctl' else ArptablesEngine
    system = System(module)
    run_single(module, system, engine(system, params, module.check_mode))


if __name__ == '__main__':
    main()
