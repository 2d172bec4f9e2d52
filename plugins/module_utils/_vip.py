# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The engine of lvs_vip (and of lvs_realserver's VIP step): the records, the boot unit and its guard, the
ARP gate."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os
import string

from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    ETC_DIR, OWNED_RULES, RUN_DIR, SUPPRESS_MARKER, SUPPRESS_OWNER, SYSCTL_DIRS, Arptables, effective_arp,
    facing_interfaces, read_arp_sysctls, sysctl_suppresses, unprotected_interfaces)
from ansible_collections.lvs.dr.plugins.module_utils._inputs import (
    check_interface, check_not_empty, check_path, parse_vips)
from ansible_collections.lvs.dr.plugins.module_utils._plan import Engine, Refusal
from ansible_collections.lvs.dr.plugins.module_utils._system import read_owned
from ansible_collections.lvs.dr.plugins.module_utils._units import (
    UNIT_DIR, VIPS_GUARD, VIPS_UNIT, Unit, mark, vips_guard)

OWNER = 'lvs_vip'
RUNTIME_RECORD = '/run/lvs-dr/vips'
DEFAULT_RECORD = '/etc/lvs-dr/vips.batch'
UNIT_PATH = os.path.join(UNIT_DIR, VIPS_UNIT)
UNIT_SAFE = frozenset(string.ascii_letters + string.digits + '_.')
# The kernel refuses IPv4 labels longer than IFNAMSIZ - 1 or not starting with the device name.
MAX_LABEL = 15
RECORD_HEADER = ('# Managed by the lvs.dr Ansible collection (lvs_vip): the VIPs it owns, as ip -batch lines.\n'
                 '# Changes here are overwritten.\n')
RECORD_MARK = RECORD_HEADER.splitlines()[0]
# After ARP suppression (sysctl.d, RHEL's arptables.service, lvs_arp_suppress's restore unit), and
# after the network managers start, since one taking over an interface may flush what it finds;
# before network.target so services that bind the VIP find it. After the managers and before
# network-pre.target at once would be a cycle (they are After=network-pre.target).
UNIT_ORDERING = """\
After=systemd-sysctl.service arptables.service lvs-dr-arptables.service
After=networking.service NetworkManager.service systemd-networkd.service
Before=network.target
"""
# Where a boot record cannot live: the kernel's trees, and /run, which a reboot empties.
VOLATILE = ('/proc', '/sys', '/dev', '/run')
# What ip -batch reads otherwise in a word of the boot record: # starts a comment, quotes open a quoted word.
BATCH_SPECIAL = '#"\'\\'

# lvs_arp_suppress's records (boot layer, runtime layer), and where systemd-sysctl reads at boot (/run/sysctl.d
# is empty then).
ARPTABLES_RECORDS = tuple(os.path.join(d, OWNED_RULES) for d in (ETC_DIR, RUN_DIR))
SYSCTL_BOOT_DIRS = tuple(d for d in SYSCTL_DIRS if not d.startswith('/run/'))


# What a refusal tells the user to do, in the caller's own terms: lvs_vip's by default;
# lvs_realserver, which has no require_arp_suppression, passes its own (VipEngine's hints).
HINTS = {
    'arp': ('Run lvs.dr.lvs_arp_suppress for this VIP first (arp_ignore 1 and arp_announce 2, or arptables '
            'rules), or set require_arp_suppression: false.'),
    'ipv6': 'put IPv6 VIPs on lo, or set require_arp_suppression: false.',
    'boot': ('Make the suppression persistent first (lvs.dr.lvs_arp_suppress with persist: true), or set '
             'persist: false.'),
}
EMPTY_VIP = {
    'present': ('with state present the host would hold no VIP, and with exclusive every VIP lvs_vip holds on this '
                'host would be removed: a host whose inventory failed to load would drop out of service while the '
                'directors\' health checks on its real IP still pass. Name the VIPs, or use state: absent without '
                'vip to remove them all.'),
    'absent': 'name the VIPs to remove, or leave vip out to remove every VIP lvs_vip holds.',
}
EMPTY_ARP_INTERFACES = ('no interface would be checked, so the ARP gate would let any VIP through. Name the interfaces '
                        'facing the segment, or leave arp_interfaces out for every interface but lo.')


# <linux/if.h>, as /sys/class/net/<name>/flags shows them.
IFF_UP, IFF_NOARP = 0x1, 0x80


def label_for(interface):
    label = interface + ':lvs'
    return label if len(label) <= MAX_LABEL else None


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


def check_batch_word(name, what):
    if any(char in BATCH_SPECIAL for char in name):
        raise ValueError('%s %r is refused: ip -batch, which restores the VIPs at boot, reads # as the start of a '
                         'comment and quotes or backslashes as quoting, so the boot record\'s line would not name '
                         'this interface. Hold the VIPs on an interface without those characters (lo by default).'
                         % (what, name))
    return name


def check_persist_file(path):
    """persist_file: a path a unit line and ip -batch read as written, on a file system that outlives a boot,
    and none of the collection's other files."""
    try:
        check_path(path, 'persist_file')
    except ValueError as e:
        raise Refusal(str(e))
    for top in VOLATILE:
        if path == top or path.startswith(top + '/'):
            raise Refusal('persist_file %s is refused: %s is emptied at boot or belongs to the kernel, so the VIPs '
                          'would not come back and the module would lose its record of them. Keep the default %s, '
                          'or name a file on a persistent file system.' % (path, top, DEFAULT_RECORD))
    if path in (UNIT_PATH, VIPS_GUARD):
        raise Refusal('persist_file %s is refused: the module writes that file as the VIPs\' boot unit or its guard. '
                      'Keep the default %s.' % (path, DEFAULT_RECORD))


def read_own_file(system, path, is_ours):
    """read_owned, with a file that cannot be read (a directory, no permission) refused as well."""
    try:
        return read_owned(system, path, is_ours, 'lvs.dr.lvs_vip')
    except EnvironmentError as e:
        raise Refusal('%s cannot be read (%s): the module reads what it rewrites or removes first. Name a regular '
                      'file.' % (path, to_text(e.strerror or e)))


def is_record(text):
    return text.startswith(RECORD_MARK + '\n')


def is_boot_file(text):
    """The unit and the guard carry the mark of every boot file the collection writes, with lvs_vip's name."""
    return text.startswith(mark(OWNER) + '\n')


class VipRecords(object):
    """What the module owns: the persistent ip -batch file (with its boot unit and the unit's guard) and the
    runtime record, both holding one `address replace` line per owned VIP, every interface in one file.
    Each is read only when it carries the module's mark: anything else at those paths is refused."""

    def __init__(self, system, persist_file, ip_path, persist):
        self.system = system
        self.paths = {'persist': persist_file, 'runtime': RUNTIME_RECORD}
        self.before = dict((kind, parse_record(read_own_file(system, path, is_record)))
                           for kind, path in self.paths.items())
        self.after = dict((kind, dict(entries)) for kind, entries in self.before.items())
        self.ip_path = ip_path
        self.unit_path = UNIT_PATH
        # persist=true rewrites or removes the unit and its guard: only when they are the module's.
        self.unit_text = self.guard_text = None
        if persist:
            self.unit_text = read_own_file(system, UNIT_PATH, is_boot_file)
            self.guard_text = read_own_file(system, VIPS_GUARD, is_boot_file)

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

    def forget_others(self, wanted, persist):
        """Every line whose (interface, ip) is not in wanted."""
        for kind in ('persist', 'runtime') if persist else ('runtime',):
            for key in [key for key in self.after[kind] if key not in wanted]:
                del self.after[kind][key]

    def forget_all(self, interface, persist):
        """Every line of interface (of any interface when None), live or not."""
        for kind in ('persist', 'runtime') if persist else ('runtime',):
            for key in [key for key in self.after[kind] if interface in (None, key[0])]:
                del self.after[kind][key]

    def entering(self):
        """The (interface, ip) whose boot line this run writes or changes."""
        return set(key for key, line in self.after['persist'].items() if self.before['persist'].get(key) != line)

    def guarded(self):
        """The unit runs the guard when the boot record holds an IPv4 VIP (IPv6 needs no ARP suppression)."""
        return any(ip.version == 4 for dummy, ip in self.after['persist'])

    def unit(self):
        interfaces = sorted(set(iface for iface, dummy in self.after['persist']) - set(['lo']))
        devices = ' '.join('sys-subsystem-net-devices-%s.device' % unit_escape(i) for i in interfaces)
        ordering = UNIT_ORDERING + ('Wants=%s\nAfter=%s\n' % (devices, devices) if devices else '')
        service = 'ExecStart=%s -force -batch %s' % (self.ip_path, self.paths['persist'])
        if self.guarded():
            service = 'ExecStartPre=/bin/sh %s %s\n%s' % (VIPS_GUARD, self.paths['persist'], service)
        return Unit(VIPS_UNIT, OWNER, 'LVS-DR virtual IPs (lvs.dr)', self.paths['persist'], ordering, service)

    @staticmethod
    def lines(entries):
        return sorted(entries.values())

    def state(self, which):
        entries = getattr(self, which)
        return dict((kind, self.lines(entries[kind])) for kind in ('persist', 'runtime'))

    def plan(self, plan, persist, facing):
        """Add the record writes, and for persist the guard and the unit, in the order: records, guard, unit
        (the unit names the guard), and on removal the unit before its guard.
        facing: the interfaces the guard checks (arp_interfaces); None for every one but lo."""
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
        guard = vips_guard(OWNER, facing) if self.guarded() else None
        if guard is not None and guard != self.guard_text:
            plan.add('write %s' % VIPS_GUARD, self.system.write, VIPS_GUARD, guard)
        if self.after['persist'] and not unit.installed(self.system):
            plan.add('install and enable %s' % VIPS_UNIT, unit.install, self.system)
        elif not self.after['persist'] and unit.present(self.system):
            plan.add('disable and remove %s' % VIPS_UNIT, unit.remove, self.system)
        if guard is None and self.guard_text is not None:
            plan.add('remove %s' % VIPS_GUARD, self.system.remove, VIPS_GUARD)

    def persist_file_after(self, persist):
        if persist:
            return self.paths['persist'] if self.after['persist'] else None
        return self.paths['persist'] if self.system.exists(self.paths['persist']) else None

    def unit_after(self, persist):
        installed = bool(self.after['persist']) if persist else self.system.exists(self.unit_path)
        return VIPS_UNIT if installed else None


def boot_record(system):
    """The boot record the VIPs' unit reads (its ConditionPathExists=), else the default path."""
    for line in (system.read(UNIT_PATH) or '').splitlines():
        if line.startswith('ConditionPathExists='):
            return line.split('=', 1)[1]
    return DEFAULT_RECORD


def held_vips(system, netlink):
    """[(interface, ip_interface)] of the IPv4 VIPs lvs_vip holds on this host now: live addresses labelled
    <interface>:lvs, or named with their interface in its runtime record or in the boot record."""
    recorded = {}
    for path in (RUNTIME_RECORD, boot_record(system)):
        recorded.update(parse_record(system.read(path)))
    names = netlink.link_names()
    held = []
    for entry in netlink.addresses():
        name, address = names.get(entry['index']), entry['address']
        if address.version == 4 and name is not None and (
                (entry['label'] is not None and entry['label'] == label_for(name)) or (name, address.ip) in recorded):
            held.append((name, address))
    return held


def describe_unprotected(vip, names, effective, interface, hint=HINTS['arp']):
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
            'service from the director. %s' % (vip.ip, ', '.join(parts), hint))


def _suppress_text(system, path):
    text = system.read(path)
    return text if text is not None and text.startswith(SUPPRESS_MARKER) else None


def sysctl_runtime_only(system):
    """lvs_arp_suppress's sysctl files of the running system only (persist: false, in /run/lvs-dr), when it
    has no boot file where systemd-sysctl reads at boot; else []."""
    runtime = [os.path.join(RUN_DIR, name) for name in system.listdir(RUN_DIR)
               if name.endswith('.conf') and _suppress_text(system, os.path.join(RUN_DIR, name))]
    for directory in SYSCTL_BOOT_DIRS if runtime else ():
        if any(name.endswith('.conf') and _suppress_text(system, os.path.join(directory, name))
               for name in system.listdir(directory)):
            return []
    return runtime


def arptables_recorded(system, path, vip):
    """True when lvs_arp_suppress's arptables record at path names the DROP rule of vip."""
    try:
        record = json.loads(system.read(path) or '{}')
        return record.get('managed_by') == SUPPRESS_OWNER and any(
            rule.get('-d') == vip and rule.get('-j') == 'DROP' for rule in record.get('rules', []))
    except (ValueError, AttributeError, TypeError):
        return False


def within(network, other):
    """network is other or one of its subnets (ipaddress's subnet_of is Python 3.7 and later)."""
    return (network.version == other.version and network.prefixlen >= other.prefixlen
            and network.supernet(new_prefix=other.prefixlen) == other)


class VipEngine(Engine):
    """lvs_vip's work on one host: validate(), then run(plan) -> (before, after, result).

    protection_planned: an earlier step of the same check-mode run will have suppressed ARP
    (lvs_realserver), so the gate's would-be refusals are not worth a warning.
    mangle_planned: likewise for the arptables mangle rules (method arptables).
    hints: the remedies the refusals name, {'arp': ..., 'ipv6': ..., 'boot': ...}; default HINTS (lvs_vip's options)."""

    def __init__(self, system, netlink, params, check_mode=False, protection_planned=False, mangle_planned=False,
                 hints=None):
        super(VipEngine, self).__init__(system, params, check_mode)
        p = params
        self.netlink = netlink
        self.hints = dict(HINTS, **(hints or {}))
        self.protection_planned = protection_planned
        self.mangle_planned = mangle_planned
        # No vip (state=absent): every VIP the module owns, on every interface unless one is named.
        self.interface = p['interface'] or ('lo' if p['vip'] is not None else None)
        self.state = p['state']
        # present with exclusive: the list is the whole set, owned VIPs on every interface are in scope.
        self.exclusive = bool(p.get('exclusive')) and self.state == 'present'
        self.persist = p['persist']
        self.facing = p.get('arp_interfaces')
        self.label = label_for(self.interface) if self.interface else None
        self.refusals = []
        self.index = None
        self.vips = None
        self._names = None

    def validate(self):
        """Everything that can be wrong with the request: the input first, then what the host holds (its
        records, unit and addresses) that forbids it. Nothing is changed before the plan runs."""
        p = self.params
        present = self.state == 'present'
        try:
            if p['vip'] is not None:
                check_not_empty('vip', p['vip'], EMPTY_VIP[self.state])
                self.vips = parse_vips(p['vip'], host_prefix_only=self.interface == 'lo')
            if present and self.facing is not None:
                check_not_empty('arp_interfaces', self.facing, EMPTY_ARP_INTERFACES)
            for name in self.facing or []:
                check_interface(name, 'arp_interfaces entry')
            if self.interface:
                check_batch_word(check_interface(self.interface, 'interface'), 'interface')
        except ValueError as e:
            raise Refusal(str(e))
        check_persist_file(p['persist_file'])
        for name in (self.facing or []) + ([self.interface] if self.interface else []):
            index = self.netlink.link_index(name)
            if index is None:
                raise Refusal('Interface %s does not exist on this host.' % name)
        if self.interface:
            self.index = index
        ipv6 = [str(vip.ip) for vip in self.vips or [] if vip.version == 6]
        if present and self.interface != 'lo' and ipv6:
            # Unlike the ARP gate this does not depend on an earlier task, so check mode refuses too.
            text = ('IPv6 VIP %s on %s: neighbour discovery answers for it on that interface and nothing in '
                    'lvs.dr suppresses that; %s' % (', '.join(ipv6), self.interface, self.hints['ipv6']))
            if p['require_arp_suppression']:
                raise Refusal(text)
            self.warn('require_arp_suppression is false, going ahead: ' + text)
        # The host: what is there decides what may be done, before anything changes.
        self.ip_path = self.system.binary('ip', required=self.persist)
        self.records = VipRecords(self.system, p['persist_file'], self.ip_path, self.persist)
        self.read()
        if present:
            self.refuse_host_addresses()
            self.refuse_new_routes()

    def read(self):
        self.live = {}
        self.elsewhere = {}
        names = self.link_names() if self.interface is None or self.exclusive else {self.index: self.interface}
        # (index, interface, entry) of every owned address in scope: this interface, or every one.
        self.owned_live = []
        self.ipv4_indexes = set()
        for entry in self.netlink.addresses():
            if entry['address'].version == 4:
                self.ipv4_indexes.add(entry['index'])
            if entry['index'] == self.index:
                self.live[entry['address'].ip] = entry
            else:
                self.elsewhere.setdefault(entry['address'].ip, []).append(entry)
            name = names.get(entry['index'])
            if name is not None and self.owned(entry, name):
                self.owned_live.append((entry['index'], name, entry))

    def link_names(self):
        """{index: name} of every interface, dumped once and only when needed."""
        if self._names is None:
            self._names = self.netlink.link_names()
        return self._names

    def owned(self, entry, interface):
        ip, label = entry['address'].ip, label_for(interface)
        return ((ip.version == 4 and label is not None and entry['label'] == label)
                or self.records.owns(interface, ip))

    def refuse_host_addresses(self):
        """A VIP to add that another interface holds and lvs_vip did not put there is one of the host's own
        addresses (its real IP, another tool's address)."""
        for vip in self.vips:
            if vip.ip in self.live:
                continue  # on the interface already: kept, re-prefixed, or someone else's and left alone
            for entry in self.elsewhere.get(vip.ip, []):
                name = self.link_names().get(entry['index'])
                if name is None or not self.owned(entry, name):
                    raise Refusal(
                        'VIP %s is this host\'s own address %s on %s, which lvs_vip did not add: as a VIP the '
                        'directors would hold it too and take it over on the segment, and ARP suppression for it '
                        '(arptables DROP) would stop this host answering for its own address; either way the host '
                        'is cut off. Name the service\'s virtual IP, not an address of the host; if %s holds it for '
                        'another tool, remove it there first.'
                        % (vip.ip, entry['address'], name or 'interface %d' % entry['index'], name or 'that interface'))

    def refuse_new_routes(self):
        """Off lo, a VIP wider than a host address adds a route for its network through the interface: only
        a network the interface already reaches (a subnet of one of its own addresses) changes no routing."""
        if self.interface == 'lo':
            return  # parse_vips took host addresses only
        for vip in self.vips:
            entry = self.live.get(vip.ip)
            if vip.network.prefixlen == vip.max_prefixlen or (
                    entry is not None and (entry['address'] == vip or not self.owned(entry, self.interface))):
                continue
            networks = [e['address'].network for e in self.live.values() if not self.owned(e, self.interface)]
            if not any(within(vip.network, network) for network in networks):
                raise Refusal('VIP %s on %s: its prefix adds a route to %s through %s, a network no address of %s '
                              'is in, so this host would send to it on-link from %s instead of through its routes '
                              '(a short prefix takes over most of its routing). Give the VIP as a host address '
                              '(/%d), or a prefix within a network %s already has.'
                              % (vip, self.interface, vip.network, self.interface, self.interface, self.interface,
                                 vip.max_prefixlen, self.interface))

    def arp_gate(self, adding):
        """{vip: interfaces unprotected}; refusals for the VIPs about to be added; {vip: (by arptables,
        by sysctl)} for the boot gate."""
        if self.state != 'present':
            return {}, {}
        ipv4 = [vip for vip in self.vips if vip.version == 4]
        if not ipv4:
            return {}, {}
        arptables = Arptables(self.system, required=False)
        effective = effective_arp(read_arp_sysctls(self.system))
        facing = facing_interfaces(effective, self.facing)
        result, protection = {}, {}
        for vip in ipv4:
            ip = str(vip.ip)
            names = unprotected_interfaces(self.system, ip, self.interface, self.facing, arptables)
            result[ip] = names
            protection[ip] = (arptables.present and arptables.drops(ip) and arptables.mangles(ip),
                              all(name in effective and name != self.interface and sysctl_suppresses(effective[name])
                                  for name in facing))
            if names and vip in adding:
                self.refusals.append(describe_unprotected(vip, names, effective, self.interface, self.hints['arp']))
            elif names:
                self.warn('VIP %s is already present on %s but ARP for it is not suppressed on %s.'
                          % (vip, self.interface, ', '.join(names)))
        # The mangle rule rewrites any ARP sender that is the VIP; a host meant to answer needs no warning.
        mangled = self.mangle_planned or all(arptables.present and arptables.mangles(str(vip.ip)) for vip in ipv4)
        if self.params['require_arp_suppression'] and not mangled:
            names = self.addressless(facing)
            if names:
                self.warn('Interfaces that route IPv4 but hold no IPv4 address: %s. ARP requests the host '
                          'sends from them carry another interface\'s address as the sender, a VIP on lo '
                          'included, whatever arp_announce says; give each an IPv4 address, or add '
                          'arptables rules for the VIPs, whose mangle rule rewrites the sender.'
                          % ', '.join(names))
        return result, protection

    def boot_gate(self, protection):
        """persist=true: the ARP protection a VIP has now must come back at boot, or the unit's guard keeps
        every VIP down then. Refused for a VIP entering the boot record, a warning for one already in it."""
        if not self.persist or not protection:
            return
        entering = self.records.entering()
        runtime_sysctl = None
        for vip in self.vips:
            ip = str(vip.ip)
            if ip not in protection or not any(protection[ip]):
                continue  # unprotected: the ARP gate speaks
            by_arptables, by_sysctl = protection[ip]
            reasons = []
            if by_arptables:
                if not (arptables_recorded(self.system, ARPTABLES_RECORDS[1], ip)
                        and not arptables_recorded(self.system, ARPTABLES_RECORDS[0], ip)):
                    continue
                reasons.append('its arptables rules are recorded in %s only' % ARPTABLES_RECORDS[1])
            if by_sysctl:
                if runtime_sysctl is None:
                    runtime_sysctl = sysctl_runtime_only(self.system)
                if not runtime_sysctl:
                    continue
                reasons.append('the sysctl values are recorded in %s only, with no boot file where systemd-sysctl '
                               'reads' % ', '.join(runtime_sysctl))
            what = ' and '.join(reasons)
            text = ('ARP for VIP %s is suppressed on the running system only (%s: lvs_arp_suppress with persist: '
                    'false): at the next boot the VIP would come back without it, and the guard of %s then restores '
                    'no VIP at all. %s' % (ip, what, VIPS_UNIT, self.hints['boot']))
            if (self.interface, vip.ip) in entering:
                self.refusals.append(text)
            else:
                self.warn(text)

    def addressless(self, names):
        """Among names, the interfaces that are up, send ARP, are no other interface's port, hold no IPv4
        address and carry IPv4 routes (any table): the kernel (inet_select_addr) then takes the first
        suitable address of any interface as the ARP sender, lo first, the VIP on it included."""
        found = []
        for name in names:
            flags = self.system.read('/sys/class/net/%s/flags' % name)
            if flags is None or self.system.exists('/sys/class/net/%s/master' % name):
                continue
            flags, index = int(flags, 16), self.netlink.link_index(name)
            if flags & IFF_UP and not flags & IFF_NOARP and index not in self.ipv4_indexes:
                found.append((name, index))
        if not found:  # the usual host: no route dump, however many routes it holds
            return []
        try:
            routed = self.netlink.routed_indexes()
        except OSError as e:
            self.warn('netlink refused to list the IPv4 routes (%s): whether %s, up without an IPv4 address, '
                      'route IPv4 was not checked.' % (to_text(e), ', '.join(name for name, dummy in found)))
            return []
        return [name for name, index in found if index in routed]

    def apply_gate(self):
        if not self.refusals:
            return
        if not self.params['require_arp_suppression']:
            for text in self.refusals:
                self.warn('require_arp_suppression is false, going ahead: ' + text)
            if self.persist:
                self.warn('%s restores no VIP at boot while ARP for an IPv4 VIP of %s is not suppressed: its guard '
                          '(%s) fails and keeps them all down until it is.'
                          % (VIPS_UNIT, self.records.paths['persist'], VIPS_GUARD))
        elif self.check_mode:
            for text in [] if self.protection_planned else self.refusals:
                self.warn('Would be refused unless the suppression is in place when the play runs for '
                          'real: ' + text)
        else:
            raise Refusal(' '.join(self.refusals))

    def warn_kept(self, keys):
        """persist=false: the (interface, ip) of keys that stay in the boot record and come back at boot."""
        kept = sorted((key for key in set(keys) if key in self.records.after['persist']),
                      key=lambda key: (key[0], key[1].version, key[1]))
        if kept:
            self.warn('%s stay in %s (persist is false) and come back at the next boot.'
                      % (', '.join('%s on %s' % (ip, name) for name, ip in kept), self.records.paths['persist']))

    def warn_elsewhere(self, removing):
        """A requested VIP that another interface keeps after the run: lvs_vip's own on another interface
        (present), or any (absent); the run leaves it there."""
        gone = set((index, address) for index, dummy, address in removing)
        for vip in self.vips or []:
            for entry in self.elsewhere.get(vip.ip, []):
                if (entry['index'], entry['address']) in gone:
                    continue
                name = self.link_names().get(entry['index'])
                whose = 'held by lvs_vip' if name is not None and self.owned(entry, name) else 'not added by lvs_vip'
                self.warn('VIP %s is also on %s (%s, %s), which this run (interface %s) leaves as it is.'
                          % (vip.ip, name or 'interface %d' % entry['index'], entry['address'], whose, self.interface))

    def decide_all(self):
        """state=absent without vip: every owned address in scope goes, and every record line of it."""
        self.records.forget_all(self.interface, self.persist)
        self.warn_kept(key for key in self.records.after['persist'] if self.interface in (None, key[0]))
        return [(index, name, entry['address']) for index, name, entry in self.owned_live]

    def decide_others(self):
        """exclusive: every owned VIP not asked for, on any interface, goes (a VIP dropped from the list)."""
        wanted = set((self.interface, vip.ip) for vip in self.vips)
        self.records.forget_others(wanted, self.persist)
        dropped = [(index, name, entry['address']) for index, name, entry in self.owned_live
                   if (name, entry['address'].ip) not in wanted]
        self.warn_kept((name, address.ip) for dummy, name, address in dropped)
        return dropped

    def run(self, plan):
        adding, removing, unowned = [], [], []
        if self.vips is None:
            removing = self.decide_all()
        for vip in self.vips or []:
            entry = self.live.get(vip.ip)
            if entry is not None and not self.owned(entry, self.interface):
                unowned.append(str(entry['address']))
                self.warn('%s on %s was not added by lvs.dr.lvs_vip; leaving it alone%s.'
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
                    self.warn_kept([(self.interface, vip.ip)])
        if self.exclusive:
            removing.extend(self.decide_others())
        self.warn_elsewhere(removing)
        arp_unprotected, protection = self.arp_gate(adding)
        self.boot_gate(protection)
        self.apply_gate()

        # Safety order: removals of live addresses first, then the records (a VIP is recorded before it
        # appears and forgotten after it is gone, so an interrupted run never leaves an unowned VIP), the
        # boot unit and its guard, then adds.
        for index, name, address in removing:
            plan.add('remove %s from %s' % (address, name), self.netlink.delete, index, address)
        self.records.plan(plan, self.persist, self.facing)
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
        return before, after, dict(interface=self.interface, vips=after_vips,
                                   added=[str(v) for v in adding], removed=removed, unowned=unowned,
                                   arp_unprotected=arp_unprotected,
                                   persist_file=self.records.persist_file_after(self.persist),
                                   unit=self.records.unit_after(self.persist))
