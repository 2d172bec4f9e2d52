#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lvs_redirect
short_description: Make an LVS-DR real server accept VIP traffic with a nat PREROUTING REDIRECT rule
version_added: 0.1.0
description:
  - Implements the transparent-proxy methods of an LVS direct-routing real server (the guide's
    methods 2, firewalld, and 3, iptables). The VIP is never configured on the real server, so
    it cannot answer ARP or neighbour solicitations for it; instead a C(nat) C(PREROUTING)
    C(REDIRECT) rule hands packets addressed to the VIP to local services.
  - One rule per VIP, port and protocol (the rule set is O(vip) x O(ports) x O(protocols)).
    IPv4 VIPs go through C(iptables) or the firewalld C(ipv4) family, IPv6 VIPs through
    C(ip6tables) or the firewalld C(ipv6) family.
  - Every rule carries its backend's ownership comment, C(lvs.dr redirect iptables) or
    C(lvs.dr redirect firewalld). firewalld's direct rules are iptables rules in the kernel, so
    without its own mark each backend would take the other's rule for its own. With
    O(state=absent) the module removes only rules that carry the backend's comment, in the exact
    form the module writes, and match the request; other rules, even for the same VIP and port
    and even the other backend's, are never touched.
  - O(state=absent) is safe where the backend was never used. With the tool missing
    (C(iptables) or C(ip6tables) for a family, C(firewall-cmd)) nothing of the module's can be in
    force, so it changes nothing. With firewalld installed but not running, the runtime layer is
    empty by definition and the permanent configuration is cleaned with C(firewall-offline-cmd).
  - Services must listen on the wildcard address (C(0.0.0.0) / C(::)), so one service per port
    serves every VIP; every packet pays for NAT and connection tracking.
author: lvs.dr contributors (@lvs-dr)
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
    support: full
    platforms: linux
options:
  backend:
    description:
      - Which tool owns the rules.
      - V(iptables) runs C(iptables) / C(ip6tables) directly. With O(persist=true) it adds its
        rules to, and removes them from, the distribution's own rules file, leaving every other line
        of it as it is (see O(persist)).
      - V(firewalld) adds firewalld direct rules with C(firewall-cmd --direct), at runtime and,
        with O(persist=true), in the permanent configuration as well, so no C(--reload) is
        needed. firewalld must be running for O(state=present); for O(state=absent) while it is
        stopped, the permanent configuration is cleaned with C(firewall-offline-cmd --direct).
    type: str
    required: true
    choices: [iptables, firewalld]
  vip:
    description:
      - Virtual IP addresses, IPv4 or IPv6, mixed as needed.
      - Host addresses only, because a REDIRECT rule matches one destination address. A prefix,
        if given, must be C(/32) for IPv4 and C(/128) for IPv6.
      - Refused, before anything changes, are addresses that cannot be a VIP (unspecified, C(0.0.0.0/8),
        loopback, multicast, link-local, C(240.0.0.0/4) and the limited broadcast, IPv4-mapped IPv6,
        scoped IPv6 C(ADDRESS%ZONE)), and IPv6 addresses C(ip6tables) would print otherwise than
        written in canonical form (the deprecated IPv4-compatible C(::a.b.c.d)), whose rules the
        module could not find again.
      - Required with O(state=present). With O(state=absent) it may be omitted to remove the
        module's rules for every VIP, including VIPs no longer in the inventory.
      - An empty list is refused with either state, since a variable that failed to load gives one;
        with O(state=present) the run would succeed while the host accepts none of the VIPs' traffic.
    type: list
    elements: str
  ports:
    description:
      - Destination ports of the virtual service, each a number from 1 to 65535 (a boolean is
        refused).
      - Required with O(state=present). With O(state=absent) it may be omitted to remove the
        module's rules for every port. An empty list is refused, as for O(vip).
    type: list
    elements: int
  protocols:
    description:
      - Transport protocols to redirect.
      - Default V([tcp]) with O(state=present). With O(state=absent) it may be omitted to remove
        the module's rules for every protocol. An empty list is refused, as for O(vip).
    type: list
    elements: str
    choices: [tcp, udp]
  state:
    description:
      - V(present) adds the missing rules, V(absent) removes the module's own rules of the
        requested set.
      - With O(state=absent), each of O(vip), O(ports) and O(protocols) that is omitted matches
        any value; the module then lists its rules (C(iptables -t nat -S PREROUTING), the saved
        rules file, C(firewall-cmd --direct --get-all-rules) at runtime and with C(--permanent))
        instead of probing for each one. With all three omitted it removes every rule it owns.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Whether the rules survive a reboot (V(true)) or live in the running firewall only
        (V(false)).
      - With O(persist=false) the persistent layer is neither read nor written, also with
        O(state=absent).
      - O(backend=iptables) on Debian and Ubuntu (C(/etc/debian_version) exists) writes
        C(/etc/iptables/rules.v4) and C(/etc/iptables/rules.v6), which
        C(netfilter-persistent.service) from the C(iptables-persistent) package restores at
        boot. On RHEL and its rebuilds (C(/etc/redhat-release) exists) it writes
        C(/etc/sysconfig/iptables) and C(/etc/sysconfig/ip6tables), which C(iptables.service)
        and C(ip6tables.service) from the C(iptables-services) package restore at boot. On any
        other distribution the module fails unless O(persist=false) (O(state=absent) then leaves
        the persistent layer alone, since the module cannot have saved a rule there).
      - Only the module's own lines change in the rules file. They go into its C(*nat) table after
        the last C(PREROUTING) rule (before C(COMMIT) when there is none); a file without a C(*nat)
        table gets one at the end, marked with a comment and taken out again with the last of the
        module's rules. Every other line stays byte for byte, including rules saved there but not
        loaded, and the rules in force are never dumped into the file, so other tools' transient
        rules (container engines, fail2ban) stay transient. The new text is checked with
        C(iptables-restore --test) (C(ip6tables-restore --test)) before anything changes, also in
        check mode; a file the tool rejects is refused. A rewritten file keeps its mode; a new one
        gets the distribution's (C(0640) on Debian, C(0600) on RHEL).
      - A rules file that did not exist before the module first saved to it is listed in
        C(/etc/lvs-dr/iptables-created); once O(state=absent) leaves nothing in it that a boot would
        restore, the module removes that file (and the record), so removal leaves the host as it was.
        A record listing anything but the distribution's rules files is refused.
      - With O(state=present) the module warns when the service that restores the file at boot
        (C(netfilter-persistent), C(iptables) / C(ip6tables)) is not enabled.
      - O(backend=firewalld) uses C(firewall-cmd --permanent --direct), which firewalld keeps in
        C(/etc/firewalld/direct.xml).
    type: bool
    default: true
requirements:
  - C(iptables) for IPv4 VIPs and C(ip6tables) for IPv6 VIPs, plus C(iptables-restore)
    (C(ip6tables-restore)) when O(persist=true), with O(backend=iptables).
  - C(firewall-cmd) and a running firewalld with O(backend=firewalld); C(firewall-offline-cmd)
    (shipped with firewalld) for O(state=absent) with O(persist=true) while firewalld is stopped.
notes:
  - With O(backend=iptables) and O(persist=true) the module warns when firewalld is enabled, since firewalld resets the
    iptables rules when it starts at boot, so the saved REDIRECT rules would not be in force after a reboot (a
    host switched from the firewalld method to iptables keeps firewalld enabled until the operator disables it).
  - The module installs no packages and enables no services. For O(backend=iptables) with
    O(persist=true), install and enable the package that restores the rules file at boot
    (C(iptables-persistent) on Debian/Ubuntu, C(iptables-services) on RHEL) beforehand, in
    the role or play that uses this module.
  - The iptables rules file is edited, not regenerated; it is validated with C(iptables-restore --test)
    and replaced atomically, and rewritten only when it disagrees with the requested rule set (a
    requested rule is missing from it, or a rule that O(state=absent) removes is still in it). The
    rules of O(backend=firewalld) never go into it, since firewalld restores them itself.
  - firewalld flushes every iptables table when it starts and when it stops (seen with firewalld
    1.3 on Debian 12, nftables backend), which drops the rules of O(backend=iptables) from the
    running firewall; use one backend per host, and O(backend=firewalld) wherever firewalld runs.
    Removing one backend's rules (O(state=absent)) is safe on a host where the other one is in
    use, since the ownership comments keep them apart.
  - Rule probing follows ansible-core's M(ansible.builtin.iptables) module (C(iptables -t nat -C)).
    Both the C(iptables-nft) variant (Debian 12, RHEL 8/9) and C(iptables-legacy) match the
    comment when probing and deleting, so a rule without it, or with another comment, is never
    taken for the module's own.
  - C(firewall-cmd --direct) is deprecated upstream (see the firewalld.direct(5) manual page);
    firewalld policies and rich rules are the modern path, but the direct interface is what the
    LVS-DR guide uses. The runtime and permanent configurations are probed separately (either
    can drift) and the rule is added to each with its own call.
  - A REDIRECTed packet still traverses the C(INPUT) filtering of firewalld's zone, so that zone
    must allow the service port (for example with M(ansible.posix.firewalld)); this module does
    not open it.
  - With this method the VIP does not exist on the real server, so there is no ARP problem to
    solve; M(lvs.dr.lvs_vip) is the alternative method (VIP on C(lo)), not a companion.
seealso:
  - module: lvs.dr.lvs_vip
  - module: lvs.dr.lvs_arp_suppress
  - module: ansible.builtin.iptables
  - module: ansible.posix.firewalld
  - name: firewalld.direct(5)
    description: The deprecated direct interface of firewalld.
    link: https://firewalld.org/documentation/man-pages/firewalld.direct.html
'''

EXAMPLES = r'''
- name: Accept HTTP and HTTPS for the VIPs without holding them (iptables, saved for boot)
  lvs.dr.lvs_redirect:
    backend: iptables
    vip:
      - 198.51.100.100
      - 2001:db8:0:1::100
    ports: [80, 443]

- name: DNS over UDP and TCP through firewalld, runtime only
  lvs.dr.lvs_redirect:
    backend: firewalld
    vip: [198.51.100.53]
    ports: [53]
    protocols: [tcp, udp]
    persist: false

- name: Remove the module's own rules for a VIP
  lvs.dr.lvs_redirect:
    backend: iptables
    vip: [198.51.100.100]
    ports: [80, 443]
    state: absent

- name: Remove every rule the module owns through firewalld (safe where firewalld never ran)
  lvs.dr.lvs_redirect:
    backend: firewalld
    state: absent
'''

RETURN = r'''
rules:
  description:
    - The requested rule set, in force after O(state=present) and gone after O(state=absent).
    - With O(state=absent) and O(vip), O(ports) or O(protocols) omitted, the module's rules found
      that match the rest of the request.
  returned: always
  type: list
  elements: dict
  contains:
    family:
      description: Address family.
      type: str
      sample: ipv4
    vip:
      description: The VIP, without prefix.
      type: str
      sample: 198.51.100.100
    port:
      description: Destination port.
      type: int
      sample: 80
    protocol:
      description: Transport protocol.
      type: str
      sample: tcp
    argv:
      description:
        - The command that adds the rule to the running firewall; null when there is no running
          firewall to add it to (tool missing, firewalld stopped).
      type: list
      elements: str
      sample: ['/usr/sbin/iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', '198.51.100.100/32', '-p', 'tcp',
               '-m', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'lvs.dr redirect iptables',
               '-j', 'REDIRECT']
added:
  description:
    - Rules added (or, in check mode, that would be added), one entry per rule and layer.
    - C(layer) is C(runtime) (the running firewall) or C(persistent) (the saved rules file for
      O(backend=iptables), the permanent configuration for O(backend=firewalld)).
  returned: always
  type: list
  elements: dict
  sample: [{family: ipv4, vip: 198.51.100.100, port: 80, protocol: tcp, layer: runtime}]
removed:
  description: Rules removed (or that would be removed), in the same form as RV(added).
  returned: always
  type: list
  elements: dict
  sample: []
persist_files:
  description:
    - Files written (or that would be written) to make the change persistent. For
      O(backend=iptables) the module writes them; for O(backend=firewalld) firewalld writes its
      permanent direct configuration itself.
  returned: always
  type: list
  elements: str
  sample: [/etc/iptables/rules.v4]
actions:
  description: Human-readable steps, in the order they ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ['add ipv4 tcp 198.51.100.100 port 80 (runtime)', 'save the ipv4 rules to /etc/iptables/rules.v4']
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.dr.plugins.module_utils._plan import run_single
from ansible_collections.lvs.dr.plugins.module_utils._redirect import RedirectEngine
from ansible_collections.lvs.dr.plugins.module_utils._system import System


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type='str', required=True, choices=['iptables', 'firewalld']),
            vip=dict(type='list', elements='str'),
            ports=dict(type='list', elements='int'),
            protocols=dict(type='list', elements='str', choices=['tcp', 'udp']),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persist=dict(type='bool', default=True),
        ),
        required_if=[('state', 'present', ('vip', 'ports'))],
        supports_check_mode=True,
    )
    # Empty lists, ports and addresses are checked by the engine, which lvs_realserver shares.
    system = System(module)
    run_single(module, system, RedirectEngine(system, module.params, module.check_mode))


if __name__ == '__main__':
    main()
