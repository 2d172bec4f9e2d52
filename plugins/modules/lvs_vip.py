#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: lvs_vip
short_description: Hold LVS-DR virtual IPs on a real server, and only the ones it owns
version_added: 0.1.0
description:
  - Adds or removes the virtual IPs (VIPs) of an LVS Direct Routing service on a real server, through
    netlink (the addresses are read with one C(RTM_GETADDR) dump and changed with pyroute2, which is loaded
    only when something changes). By default the VIPs go on C(lo) as host addresses (/32, /128).
  - Ownership. IPv4 VIPs are labelled C(<interface>:lvs); every VIP the module adds is also listed in its
    record (O(persist_file) with O(persist=true), the runtime record C(/run/lvs-dr/vips) with O(persist=false),
    which vanishes at reboot together with the addresses). An address is the module's own when it carries that
    label or is listed in a record for that interface. O(state=absent) removes only its own addresses; a
    requested VIP held by someone else is left alone and reported in RV(unowned) with a warning, and
    O(state=present) does not adopt it either. The module's files (the records, the unit and its guard) are
    rewritten or removed only when they carry its mark; any other file at those paths is refused, never taken over.
  - Bad input changes nothing. Every refusal comes before the first change, for malformed or unusable addresses, an
    empty O(vip) list, interface names the kernel or C(ip -batch) would read otherwise, unsafe O(persist_file)
    paths, a file the module did not write, one of the host's own addresses as a new VIP, a prefix that would add
    a route, and the ARP gate below.
  - Cleanup. O(state=absent) without O(vip) removes every VIP the module owns (by label or record) on
    O(interface), or on every interface when O(interface) is omitted too, and drops their lines from the records,
    including lines of VIPs that are no longer live. This catches what an earlier run left even if the VIP list
    changed since.
  - Safety gate. Before adding an IPv4 VIP the module checks that ARP for it is already suppressed on the
    interfaces facing the segment (O(arp_interfaces)) by the effective C(arp_ignore)/C(arp_announce), the maximum of
    C(all) and the interface, or arptables DROP and mangle rules for the VIP (the mangle to another address)
    that no other rule ahead of them may pre-empt (see M(lvs.dr.lvs_arp_suppress)). Otherwise it refuses, naming the
    VIP, the interfaces and their values; run M(lvs.dr.lvs_arp_suppress) first. A real server that answers
    ARP for the VIP steals the service from the director.
  - An IPv6 VIP on C(lo) needs no gate, neighbour discovery answers only for addresses of the receiving
    interface. An IPv6 VIP on any other interface would be answered there and nothing in this collection
    suppresses that, so it is refused unless O(require_arp_suppression=false).
  - Boot. With O(persist=true) and an IPv4 VIP in the boot record, the unit runs a guard first
    (C(ExecStartPre=/bin/sh /etc/lvs-dr/vips-guard.sh <persist_file>)) that applies the safety gate's rule at
    boot, to every IPv4 VIP of the record (arptables DROP and mangle rules for the VIP, or the effective
    C(arp_ignore) 1, 2 or 8 and C(arp_announce) 2 on every interface facing the segment (O(arp_interfaces), by
    default every interface but C(lo))). When it fails no VIP is restored, the unit fails (C(systemctl status
    lvs-dr-vips.service) says why) rather than one VIP coming up answering ARP. Adding a VIP to the boot record is
    refused when the suppression it has now would not come back at boot because M(lvs.dr.lvs_arp_suppress)
    recorded it for the running system only (its C(persist=false) files in C(/run/lvs-dr) without a boot file).
  - The REDIRECT methods (M(lvs.dr.lvs_redirect)) never need the VIP on the real server; do not use this
    module with them.
author: lvs.dr contributors (@lvs-dr)
options:
  vip:
    description:
      - The VIPs, IPv4 or IPv6, as V(ADDRESS) or V(ADDRESS/PREFIX). Without a prefix the host prefix (/32, /128) is
        used.
      - On C(lo) only the host prefix is accepted; a wider one would make the whole subnet local to the host.
      - The same address twice with different prefixes is refused, and so is an empty list.
      - A VIP to add that another interface holds and this module did not add there (the host's real IP, another
        tool's address) is refused; one this module holds on another interface stays there, with a warning.
      - Off C(lo) a prefix wider than the host prefix must lie within the network of an address the interface
        already holds, which adds no route; any other would route its whole network out of that interface.
      - Required with O(state=present). With O(state=absent) it may be omitted to remove every VIP the module owns.
    type: list
    elements: str
  interface:
    description:
      - The interface that holds the VIPs. It must exist, and its name must not hold C(#), quotes or
        backslashes, which C(ip -batch) at boot would read as a comment or quoting.
      - Default V(lo). With O(state=absent) and no O(vip), omitting it means every interface.
      - The IPv4 label C(<interface>:lvs) must fit the kernel's 15 characters; when it does not, the VIP is added
        without a label and its ownership rests on the record alone.
    type: str
  state:
    description:
      - V(present) adds the VIPs (after the safety gate), V(absent) removes those of them that the module owns, or
        all it owns when O(vip) is omitted.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - V(true) keeps the owned VIPs across reboot in O(persist_file), applied at boot by the oneshot unit
        C(lvs-dr-vips.service) after its guard (see the description's Boot); the file, the unit and the guard are
        removed with the last VIP, the guard with the last IPv4 VIP.
      - V(false) changes only the running system (and the runtime record). It leaves O(persist_file) as it is, so
        a persisted VIP removed with O(persist=false) (or dropped from the list with O(exclusive=true)) comes back
        at the next boot; a warning names it.
    type: bool
    default: true
  persist_file:
    description:
      - The C(ip -batch) file that restores the VIPs at boot, one C(address replace) line per owned VIP of any
        interface. It is also the module's ownership record.
      - An absolute, normalised path of letters, digits and C(_./+@:-) (it is written into the unit's
        C(ConditionPathExists=), C(ExecStartPre=) and C(ExecStart=) lines), not under C(/run), C(/proc), C(/sys)
        or C(/dev), and not the unit or the guard. An existing file there must be one the module wrote.
    type: path
    default: /etc/lvs-dr/vips.batch
  require_arp_suppression:
    description:
      - Refuse to add an IPv4 VIP while ARP for it is not suppressed on O(arp_interfaces), and refuse IPv6 VIPs on
        an interface other than C(lo).
      - V(false) overrides the gate with a warning, for hosts that are meant to answer for the VIP. It does not
        override the boot guard; with O(persist=true) an IPv4 VIP without ARP suppression keeps the VIPs down at
        boot (a warning says so); use O(persist=false) for such a VIP.
      - With V(true) and no arptables mangle rules for the VIPs, the module also warns about interfaces of
        O(arp_interfaces) that are up, send ARP, are no other interface's port, are named by an IPv4 route of any
        routing table and hold no IPv4 address. C(arp_announce=2) then has no address of theirs to prefer, and the
        kernel takes the first suitable one of any interface, C(lo) first, so the VIP on C(lo) becomes the sender
        of the ARP requests sent from them.
    type: bool
    default: true
  arp_interfaces:
    description:
      - The interfaces facing the segment on which ARP for the VIP must be suppressed, at once and by the boot
        guard. An empty list is refused (it would check nothing).
      - Default every interface except C(lo).
      - sysctl cannot protect a VIP held on the facing interface itself; only arptables rules do.
    type: list
    elements: str
  exclusive:
    description:
      - With O(state=present), also remove every VIP the module owns that is not in O(vip), on any
        interface, and its record lines; the list becomes the whole set, so a VIP dropped from the
        inventory goes on the next run. Addresses the module does not own are never touched.
    type: bool
    default: false
extends_documentation_fragment:
  - lvs.dr.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the safety gate only warns (C(would be refused unless ...)), because on a fresh host the ARP
        suppression of an earlier task has not really happened.
  diff_mode:
    support: full
  idempotent:
    support: full
  platform:
    platforms: linux
requirements:
  - pyroute2 (0.7.2 as in Debian 12, up to 0.9)
  - iproute2 (C(ip)) when O(persist=true)
notes:
  - Persistence works with and without NetworkManager or systemd-networkd, it does not use their configuration.
    The unit runs after ARP suppression is in force (C(systemd-sysctl.service), C(arptables.service),
    C(lvs-dr-arptables.service)) and after the network managers have started (C(networking.service),
    C(NetworkManager.service), C(systemd-networkd.service)), and before C(network.target), so services ordered
    after it can bind to the VIP. It cannot be both before C(network-pre.target) and after the managers (a
    cycle); after them was chosen because a manager that takes over an interface may drop addresses it finds
    there. For an interface other than C(lo) the unit also waits for its device. C(ip -force -batch) applies
    every line it can.
  - NetworkManager (1.42 and later) manages C(lo) too; it starts before the unit, but activates devices
    asynchronously. Should a later re-apply of an NM profile drop the VIP, C(systemctl restart lvs-dr-vips.service)
    puts it back.
  - The unit is enabled by its symlink and only read at the next boot; the module sets the live addresses itself.
  - Should ARP suppression fail to come back at boot, the guard keeps every VIP of the record down, the others
    too; fix the suppression and run C(systemctl restart lvs-dr-vips.service) (or the play).
  - In check mode the ARP gate only warns (C(would be refused unless ...)), because on a fresh host the
    suppression that an earlier task would set up has not happened yet.
  - Removal here is just the VIP; drop the VIPs before lifting ARP suppression (the role orders it so).
seealso:
  - module: lvs.dr.lvs_arp_suppress
  - module: lvs.dr.lvs_redirect
'''

EXAMPLES = r'''
- name: Suppress ARP for the VIPs first
  lvs.dr.lvs_arp_suppress:
    method: sysctl

- name: Hold the VIPs on lo
  lvs.dr.lvs_vip:
    vip:
      - 198.51.100.100
      - 2001:db8:0:1::100

- name: Try a VIP on the running system only
  lvs.dr.lvs_vip:
    vip: [198.51.100.101/32]
    persist: false

- name: Remove the VIPs (before lifting ARP suppression)
  lvs.dr.lvs_vip:
    vip:
      - 198.51.100.100
      - 2001:db8:0:1::100
    state: absent

- name: Remove every VIP the module owns, on any interface (also those no longer in the inventory)
  lvs.dr.lvs_vip:
    state: absent
'''

RETURN = r'''
vips:
  description:
    - The VIPs the module owns on O(interface) after the run, as address/prefix (on every interface when
      O(interface) and O(vip) are omitted with O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [198.51.100.100/32, 2001:db8:0:1::100/128]
interface:
  description: The interface, null when every interface was cleaned (O(state=absent) without O(vip), O(interface)).
  returned: always
  type: str
  sample: lo
added:
  description: VIPs added (or that would be in check mode).
  returned: always
  type: list
  elements: str
  sample: [198.51.100.100/32]
removed:
  description: VIPs removed (or that would be in check mode).
  returned: always
  type: list
  elements: str
  sample: []
unowned:
  description: Requested VIPs present on O(interface) but not owned by the module, left alone.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.100/32]
arp_unprotected:
  description:
    - For each requested IPv4 VIP with O(state=present), the interfaces of O(arp_interfaces) on which ARP for it is
      not suppressed (empty when it is suppressed everywhere).
  returned: always
  type: dict
  sample: {198.51.100.100: [eth0]}
persist_file:
  description: O(persist_file) when it exists after the run, else null.
  returned: always
  type: str
  sample: /etc/lvs-dr/vips.batch
unit:
  description: The boot unit's name when it is installed after the run, else null.
  returned: always
  type: str
  sample: lvs-dr-vips.service
actions:
  description: The changes, in the order they were (or would be, in check mode) applied.
  returned: always
  type: list
  elements: str
  sample: [write /etc/lvs-dr/vips.batch, add 198.51.100.100/32 to lo]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.lvs.dr.plugins.module_utils._netlink import PYROUTE2_MISSING, Netlink
from ansible_collections.lvs.dr.plugins.module_utils._plan import run_single
from ansible_collections.lvs.dr.plugins.module_utils._system import System
from ansible_collections.lvs.dr.plugins.module_utils._vip import VipEngine


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vip=dict(type='list', elements='str'),
            interface=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persist=dict(type='bool', default=True),
            persist_file=dict(type='path', default='/etc/lvs-dr/vips.batch'),
            require_arp_suppression=dict(type='bool', default=True),
            arp_interfaces=dict(type='list', elements='str'),
            exclusive=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ('vip',))],
        supports_check_mode=True,
    )
    if PYROUTE2_MISSING:
        module.fail_json(msg=missing_required_lib('pyroute2'))
    system, netlink = System(module), Netlink()
    try:
        run_single(module, system, VipEngine(system, netlink, module.params, module.check_mode))
    finally:
        netlink.close()


if __name__ == '__main__':
    main()
