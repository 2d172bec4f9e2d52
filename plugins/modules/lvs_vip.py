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
    netlink (pyroute2). By default the VIPs go on C(lo) as host addresses (/32, /128).
  - Ownership. IPv4 VIPs are labelled C(<interface>:lvs); every VIP the module adds is also listed in its
    record (O(persist_file) with O(persist=true), the runtime record C(/run/lvs-dr/vips) with O(persist=false),
    which vanishes at reboot together with the addresses). An address is the module's own when it carries that
    label or is listed in a record for that interface. O(state=absent) removes only its own addresses; a
    requested VIP held by someone else is left alone and reported in RV(unowned) with a warning, and
    O(state=present) does not adopt it either.
  - Cleanup. O(state=absent) without O(vip) removes every VIP the module owns (by label or record) on
    O(interface), or on every interface when O(interface) is omitted too, and drops their lines from the records,
    including lines of VIPs that are no longer live. This catches what an earlier run left even if the VIP list
    changed since.
  - Safety gate. Before adding an IPv4 VIP the module checks that ARP for it is already suppressed on the
    interfaces facing the segment (O(arp_interfaces)) by the effective C(arp_ignore)/C(arp_announce), the maximum of
    C(all) and the interface, or arptables DROP and mangle rules for the VIP. Otherwise it refuses, naming the
    VIP, the interfaces and their values; run M(lvs.dr.lvs_arp_suppress) first. A real server that answers
    ARP for the VIP steals the service from the director.
  - An IPv6 VIP on C(lo) needs no gate, neighbour discovery answers only for addresses of the receiving
    interface. An IPv6 VIP on any other interface would be answered there and nothing in this collection
    suppresses that, so it is refused unless O(require_arp_suppression=false).
  - The REDIRECT methods (M(lvs.dr.lvs_redirect)) never need the VIP on the real server; do not use this
    module with them.
author: lvs.dr contributors (@lvs-dr)
options:
  vip:
    description:
      - The VIPs, IPv4 or IPv6, as V(ADDRESS) or V(ADDRESS/PREFIX). Without a prefix the host prefix (/32, /128) is used.
      - On C(lo) only the host prefix is accepted; a wider one would make the whole subnet local to the host.
      - The same address twice with different prefixes is refused.
      - Required with O(state=present). With O(state=absent) it may be omitted to remove every VIP the module owns.
    type: list
    elements: str
  interface:
    description:
      - The interface that holds the VIPs. It must exist.
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
        C(lvs-dr-vips.service); the file and the unit are removed with the last VIP.
      - V(false) changes only the running system (and the runtime record). It leaves O(persist_file) as it is, so
        a persisted VIP removed with O(persist=false) comes back at the next boot.
    type: bool
    default: true
  persist_file:
    description:
      - The C(ip -batch) file that restores the VIPs at boot, one C(address replace) line per owned VIP of any
        interface. It is also the module's ownership record.
    type: path
    default: /etc/lvs-dr/vips.batch
  require_arp_suppression:
    description:
      - Refuse to add an IPv4 VIP while ARP for it is not suppressed on O(arp_interfaces), and refuse IPv6 VIPs on
        an interface other than C(lo).
      - V(false) overrides the gate with a warning, for hosts that are meant to answer for the VIP.
    type: bool
    default: true
  arp_interfaces:
    description:
      - The interfaces facing the segment on which ARP for the VIP must be suppressed.
      - Default every interface except C(lo).
      - sysctl cannot protect a VIP held on the facing interface itself; only arptables rules do.
    type: list
    elements: str
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

import ipaddress
import os
import string
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.lvs.dr.plugins.module_utils._addresses import parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    Arptables, effective_arp, read_arp_sysctls, unprotected_interfaces)
from ansible_collections.lvs.dr.plugins.module_utils._plan import Plan
from ansible_collections.lvs.dr.plugins.module_utils._system import System
from ansible_collections.lvs.dr.plugins.module_utils._units import Unit, UNIT_DIR

PYROUTE2_IMPORT_ERROR = None
try:
    from pyroute2 import IPRoute
except ImportError:
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

RUNTIME_RECORD = '/run/lvs-dr/vips'
UNIT_SAFE = frozenset(string.ascii_letters + string.digits + '_.')
UNIT_NAME = 'lvs-dr-vips.service'
# The kernel refuses IPv4 labels longer than IFNAMSIZ - 1 or not starting with the device name.
MAX_LABEL = 15
RECORD_HEADER = ('# Managed by the lvs.dr Ansible collection (lvs_vip): the VIPs it owns, as ip -batch lines.\n'
                 '# Changes here are overwritten.\n')
# After ARP suppression (sysctl.d, RHEL's arptables.service, lvs_arp_suppress's restore unit), and
# after the network managers start, since one taking over an interface may flush what it finds;
# before network.target so services that bind the VIP find it. After the managers and before
# network-pre.target at once would be a cycle (they are After=network-pre.target).
UNIT_ORDERING = """\
After=systemd-sysctl.service arptables.service lvs-dr-arptables.service
After=networking.service NetworkManager.service systemd-networkd.service
Before=network.target
"""


def label_for(interface):
    label = interface + ':lvs'
    return label if len(label) <= MAX_LABEL else None


class Netlink(object):
    """Every netlink call of the module, over one IPRoute socket opened per run."""

    def __init__(self, module):
        self.module = module
        self.ipr = IPRoute()

    def close(self):
        self.ipr.close()

    def link_names(self):
        return dict((msg['index'], msg.get_attr('IFLA_IFNAME')) for msg in list(self.ipr.get_links()))

    def link_index(self, name):
        found = list(self.ipr.link_lookup(ifname=name))
        return found[0] if found else None

    def addresses(self):
        """[{'index', 'address': ip_interface, 'label'}] of every interface."""
        result = []
        # pyroute2 0.9 returns generators where 0.7 returned lists.
        for msg in list(self.ipr.get_addr()):
            address = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
            result.append({'index': msg['index'], 'label': msg.get_attr('IFA_LABEL'),
                           'address': ipaddress.ip_interface(u'%s/%d' % (address, msg['prefixlen']))})
        return result

    def _call(self, command, index, vip, **extra):
        try:
            self.ipr.addr(command, index=index, address=str(vip.ip), prefixlen=vip.network.prefixlen, **extra)
        except Exception as e:  # pyroute2's NetlinkError; its module path differs between releases
            self.module.fail_json(msg='netlink refused to %s %s: %s' % (command, vip, to_text(e)))

    def add(self, index, vip, label=None):
        extra = {'label': label} if label else {}
        self._call('add', index, vip, **extra)

    def delete(self, index, vip):
        self._call('del', index, vip)


def unit_escape(name):
    """systemd-escape of one path component (an interface name may hold '-' or '@')."""
    out = []
    for i, byte in enumerate(bytearray(to_bytes(name))):
        char = chr(byte)
        out.append(char if char in UNIT_SAFE and not (i == 0 and char == '.') else '\\x%02x' % byte)
    return ''.join(out)


def record_line(interface, vip, label):
    line = 'address replace %s dev %s' % (vip, interface)
    return line + (' label %s' % label if label else '')


def parse_record(text):
    """{(interface, ip): line} of a record; lines that are not ours are dropped on rewrite."""
    entries = {}
    for line in (text or '').splitlines():
        words = line.split()
        if len(words) in (5, 7) and words[:2] == ['address', 'replace'] and words[3] == 'dev':
            try:
                vip = ipaddress.ip_interface(to_text(words[2]))
            except ValueError:
                continue
            entries[(words[4], vip.ip)] = ' '.join(words)
    return entries


class VipRecords(object):
    """What the module owns: the persistent ip -batch file (with its boot unit) and the runtime
    record, both holding one `address replace` line per owned VIP, every interface in one file."""

    def __init__(self, system, persist_file, ip_path):
        self.system = system
        self.paths = {'persist': persist_file, 'runtime': RUNTIME_RECORD}
        self.before = dict((kind, parse_record(system.read(path))) for kind, path in self.paths.items())
        self.after = dict((kind, dict(entries)) for kind, entries in self.before.items())
        self.ip_path = ip_path
        self.unit_path = os.path.join(UNIT_DIR, UNIT_NAME)

    def owns(self, interface, ip):
        return any((interface, ip) in entries for entries in self.before.values())

    def record(self, interface, vip, label, persist):
        key, line = (interface, vip.ip), record_line(interface, vip, label)
        if persist:
            self.after['persist'][key] = line
            self.after['runtime'].pop(key, None)
        elif self.after['persist'].get(key) != line:
            self.after['runtime'][key] = line

    def forget(self, interface, ip, persist):
        for kind in ('persist', 'runtime') if persist else ('runtime',):
            self.after[kind].pop((interface, ip), None)

    def forget_all(self, interface, persist):
        """Every line of interface (of any interface when None), live or not."""
        for kind in ('persist', 'runtime') if persist else ('runtime',):
            for key in [key for key in self.after[kind] if interface in (None, key[0])]:
                del self.after[kind][key]

    def unit(self):
        interfaces = sorted(set(iface for iface, dummy in self.after['persist']) - set(['lo']))
        devices = ' '.join('sys-subsystem-net-devices-%s.device' % unit_escape(i) for i in interfaces)
        ordering = UNIT_ORDERING + ('Wants=%s\nAfter=%s\n' % (devices, devices) if devices else '')
        return Unit(UNIT_NAME, 'lvs_vip', 'LVS-DR virtual IPs (lvs.dr)', self.paths['persist'], ordering,
                    'ExecStart=%s -force -batch %s' % (self.ip_path, self.paths['persist']))

    @staticmethod
    def lines(entries):
        return sorted(entries.values())

    def state(self, which):
        entries = getattr(self, which)
        return dict((kind, self.lines(entries[kind])) for kind in ('persist', 'runtime'))

    def plan(self, plan, persist):
        """Add the record writes, and for persist the unit, in the order: files, then unit."""
        for kind in ('runtime', 'persist') if persist else ('runtime',):
            path = self.paths[kind]
            lines = self.lines(self.after[kind])
            if lines == self.lines(self.before[kind]) and (lines or not self.system.exists(path)):
                continue
            if lines:
                plan.add('write %s' % path, self.system.write, path, RECORD_HEADER + '\n'.join(lines) + '\n')
            else:
                plan.add('remove %s' % path, self.system.remove, path)
        if not persist:
            return
        unit = self.unit()
        if self.after['persist'] and not unit.installed(self.system):
            plan.add('install and enable %s' % UNIT_NAME, unit.install, self.system)
        elif not self.after['persist'] and unit.present(self.system):
            plan.add('disable and remove %s' % UNIT_NAME, unit.remove, self.system)

    def persist_file_after(self, persist):
        if persist:
            return self.paths['persist'] if self.after['persist'] else None
        return self.paths['persist'] if self.system.exists(self.paths['persist']) else None

    def unit_after(self, persist):
        installed = bool(self.after['persist']) if persist else self.system.exists(self.unit_path)
        return UNIT_NAME if installed else None


def describe_unprotected(vip, names, effective, interface):
    parts = []
    for name in names:
        if name not in effective:
            parts.append('%s (no such interface)' % name)
        elif name == interface:
            parts.append('%s (holds the VIP itself: only arptables DROP and mangle rules protect it)' % name)
        else:
            parts.append('%s (effective arp_ignore=%d, arp_announce=%d)'
                         % (name, effective[name]['arp_ignore'], effective[name]['arp_announce']))
    return ('ARP for VIP %s is not suppressed on %s: this host would answer ARP for it and take the '
            'service from the director. Run lvs.dr.lvs_arp_suppress for this VIP first (arp_ignore 1 and '
            'arp_announce 2, or arptables rules), or set require_arp_suppression: false.'
            % (vip.ip, ', '.join(parts)))


class VipModule(object):
    def __init__(self, module, system, netlink):
        self.module = module
        self.system = system
        self.netlink = netlink
        p = module.params
        # No vip (state=absent): every VIP the module owns, on every interface unless one is named.
        self.interface = p['interface'] or ('lo' if p['vip'] is not None else None)
        self.state = p['state']
        self.persist = p['persist']
        self.label = label_for(self.interface) if self.interface else None
        self.refusals = []
        self.index = None

    def validate(self):
        """Everything that can be wrong with the request, before anything is read or changed."""
        p = self.module.params
        try:
            self.vips = parse_vips(p['vip'], host_prefix_only=self.interface == 'lo') if p['vip'] is not None else None
        except ValueError as e:
            self.module.fail_json(msg=to_text(e))
        if self.vips == []:
            self.module.fail_json(msg='vip is empty: name at least one VIP.')
        for name in (p['arp_interfaces'] or []) + ([self.interface] if self.interface else []):
            index = self.netlink.link_index(name)
            if index is None:
                self.module.fail_json(msg='Interface %s does not exist on this host.' % name)
        if self.interface:
            self.index = index
        ipv6 = [str(vip.ip) for vip in self.vips or [] if vip.version == 6]
        if self.state == 'present' and self.interface != 'lo' and ipv6:
            # Unlike the ARP gate this does not depend on an earlier task, so check mode refuses too.
            text = ('IPv6 VIP %s on %s: neighbour discovery answers for it on that interface and nothing in '
                    'lvs.dr suppresses that; put IPv6 VIPs on lo, or set require_arp_suppression: false.'
                    % (', '.join(ipv6), self.interface))
            if p['require_arp_suppression']:
                self.module.fail_json(msg=text)
            self.module.warn('require_arp_suppression is false, going ahead: ' + text)

    def read(self):
        self.records = VipRecords(self.system, self.module.params['persist_file'],
                                  self.system.binary('ip', required=self.persist))
        self.live = {}
        self.elsewhere = {}
        names = self.netlink.link_names() if self.interface is None else {self.index: self.interface}
        # (index, interface, entry) of every owned address in scope: this interface, or every one.
        self.owned_live = []
        for entry in self.netlink.addresses():
            if entry['index'] == self.index:
                self.live[entry['address'].ip] = entry
            else:
                self.elsewhere.setdefault(entry['address'].ip, entry)
            name = names.get(entry['index'])
            if name is not None and self.owned(entry, name):
                self.owned_live.append((entry['index'], name, entry))

    def owned(self, entry, interface):
        ip, label = entry['address'].ip, label_for(interface)
        return ((ip.version == 4 and label is not None and entry['label'] == label)
                or self.records.owns(interface, ip))

    def arp_gate(self, adding):
        """Interfaces unprotected per IPv4 VIP; refusals for the ones about to be added."""
        if self.state != 'present':
            return {}
        ipv4 = [vip for vip in self.vips if vip.version == 4]
        if not ipv4:
            return {}
        arp_interfaces = self.module.params['arp_interfaces']
        arptables = Arptables(self.system, required=False)
        effective = effective_arp(read_arp_sysctls(self.system))
        result = {}
        for vip in ipv4:
            names = unprotected_interfaces(self.system, str(vip.ip), self.interface, arp_interfaces, arptables)
            result[str(vip.ip)] = names
            if names and vip in adding:
                self.refusals.append(describe_unprotected(vip, names, effective, self.interface))
            elif names:
                self.module.warn('VIP %s is already present on %s but ARP for it is not suppressed on %s.'
                                 % (vip, self.interface, ', '.join(names)))
        return result

    def apply_gate(self):
        if not self.refusals:
            return
        if not self.module.params['require_arp_suppression']:
            for text in self.refusals:
                self.module.warn('require_arp_suppression is false, going ahead: ' + text)
        elif self.module.check_mode:
            for text in self.refusals:
                self.module.warn('Would be refused unless the suppression is in place when the play runs for '
                                 'real: ' + text)
        else:
            self.module.fail_json(msg=' '.join(self.refusals))

    def decide_all(self):
        """state=absent without vip: every owned address in scope goes, and every record line of it."""
        self.records.forget_all(self.interface, self.persist)
        kept = sorted((key for key in self.records.after['persist'] if self.interface in (None, key[0])),
                      key=lambda key: (key[0], key[1].version, key[1]))
        if kept:
            self.module.warn('%s stay in %s (persist is false) and come back at the next boot.'
                             % (', '.join('%s on %s' % (ip, name) for name, ip in kept), self.records.paths['persist']))
        return [(index, name, entry['address']) for index, name, entry in self.owned_live]

    def run(self):
        self.validate()
        self.read()
        plan = Plan(self.module)
        adding, removing, unowned = [], [], []
        if self.vips is None:
            removing = self.decide_all()
        for vip in self.vips or []:
            entry = self.live.get(vip.ip)
            other = self.elsewhere.get(vip.ip)
            if other is not None:
                self.module.warn('VIP %s is also present on another interface (index %d), which this module '
                                 'does not manage here.' % (other['address'], other['index']))
            if entry is not None and not self.owned(entry, self.interface):
                unowned.append(str(entry['address']))
                self.module.warn('%s on %s was not added by lvs.dr.lvs_vip; leaving it alone%s.'
                                 % (entry['address'], self.interface,
                                    ' (not adopting it)' if self.state == 'present' else ' (not removing it)'))
                continue
            if self.state == 'present':
                self.records.record(self.interface, vip, self.label if vip.version == 4 else None, self.persist)
                if entry is not None and entry['address'] != vip:
                    removing.append((self.index, self.interface, entry['address']))
                if entry is None or entry['address'] != vip:
                    adding.append(vip)
            else:
                self.records.forget(self.interface, vip.ip, self.persist)
                if entry is not None:
                    removing.append((self.index, self.interface, entry['address']))
                    if not self.persist and (self.interface, vip.ip) in self.records.after['persist']:
                        self.module.warn('%s stays in %s (persist is false) and comes back at the next boot.'
                                         % (vip, self.records.paths['persist']))
        arp_unprotected = self.arp_gate(adding)
        self.apply_gate()

        # Safety order: removals of live addresses first, then the records (a VIP is recorded before it
        # appears and forgotten after it is gone, so an interrupted run never leaves an unowned VIP), then adds.
        for index, name, address in removing:
            plan.add('remove %s from %s' % (address, name), self.netlink.delete, index, address)
        self.records.plan(plan, self.persist)
        for vip in adding:
            label = self.label if vip.version == 4 else None
            plan.add('add %s to %s' % (vip, self.interface), self.netlink.add, self.index, vip, label)

        before_vips = sorted(set(str(entry['address']) for dummy, dummy2, entry in self.owned_live))
        removed = [str(address) for dummy, dummy2, address in removing]
        after_vips = set(before_vips) - set(removed) | set(str(v) for v in adding)
        after_vips = [str(a) for a in sorted((ipaddress.ip_interface(to_text(v)) for v in after_vips),
                                             key=lambda i: (i.version, i.ip))]
        before = dict(vips=before_vips, **self.records.state('before'))
        after = dict(vips=after_vips, **self.records.state('after'))
        plan.exit(before, after, interface=self.interface, vips=after_vips,
                  added=[str(v) for v in adding], removed=removed, unowned=unowned,
                  arp_unprotected=arp_unprotected,
                  persist_file=self.records.persist_file_after(self.persist),
                  unit=self.records.unit_after(self.persist))


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
        ),
        required_if=[('state', 'present', ('vip',))],
        supports_check_mode=True,
    )
    if PYROUTE2_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=PYROUTE2_IMPORT_ERROR)
    netlink = Netlink(module)
    try:
        VipModule(module, System(module), netlink).run()
    finally:
        netlink.close()


if __name__ == '__main__':
    main()
