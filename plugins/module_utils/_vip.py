# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The engine of lvs_vip (and of lvs_realserver's VIP step): netlink, the records, the ARP gate."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
from importlib.util import find_spec
import socket
import string
import struct

from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.lvs.dr.plugins.module_utils._addresses import parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    Arptables, effective_arp, facing_interfaces, read_arp_sysctls, unprotected_interfaces)
from ansible_collections.lvs.dr.plugins.module_utils._units import Unit, UNIT_DIR, VIPS_UNIT

PYROUTE2_MISSING = find_spec('pyroute2') is None

RUNTIME_RECORD = '/run/lvs-dr/vips'
UNIT_SAFE = frozenset(string.ascii_letters + string.digits + '_.')
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


# What a refusal tells the user to do, in the caller's own terms: lvs_vip's by default;
# lvs_realserver, which has no require_arp_suppression, passes its own (VipEngine's hints).
HINTS = {
    'arp': ('Run lvs.dr.lvs_arp_suppress for this VIP first (arp_ignore 1 and arp_announce 2, or arptables '
            'rules), or set require_arp_suppression: false.'),
    'ipv6': 'put IPv6 VIPs on lo, or set require_arp_suppression: false.',
}


def label_for(interface):
    label = interface + ':lvs'
    return label if len(label) <= MAX_LABEL else None


# rtnetlink, as <linux/netlink.h>, <linux/rtnetlink.h> and <linux/if_addr.h> define it.
NLMSG_ERROR, NLMSG_DONE, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 2, 3, 20, 22, 24, 26
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
RTA_OIF, RTA_MULTIPATH = 4, 9
NLMSGHDR = struct.Struct('=IHHII')
IFADDRMSG = struct.Struct('=BBBBI')
RTMSG = struct.Struct('=BBBBBBBBI')
RTNEXTHOP = struct.Struct('=HBBi')
RTATTR = struct.Struct('=HH')
# The kernel fills a dump message of at most 32 KiB per read.
RECV_BUFFER = 65536
# <linux/if.h>, as /sys/class/net/<name>/flags shows them.
IFF_UP, IFF_NOARP = 0x1, 0x80


def _align(length):
    return (length + 3) & ~3


def _records(data, start, end, record):
    """(fields, offset) of each record between start and end whose first field is its length, as
    netlink lays out messages, attributes and nexthops (each aligned to 4 bytes)."""
    while start + record.size <= end:
        fields = record.unpack_from(data, start)
        if fields[0] < record.size:
            break
        yield fields, start
        start += _align(fields[0])


def parse_messages(data, reply, header):
    """(done, [(header's fields, {attribute type: bytes})]) of the reply messages in one read of a dump."""
    found = []
    for (length, kind, dummy, dummy2, dummy3), offset in _records(data, 0, len(data), NLMSGHDR):
        if kind == NLMSG_DONE:
            return True, found
        if kind == NLMSG_ERROR:
            error = -struct.unpack_from('=i', data, offset + NLMSGHDR.size)[0]
            raise OSError(error, os.strerror(error))
        if kind == reply:
            body = offset + NLMSGHDR.size
            attributes = dict((attribute, bytes(data[at + RTATTR.size:at + size]))
                              for (size, attribute), at in _records(data, body + header.size, offset + length, RTATTR))
            found.append((header.unpack_from(data, body), attributes))
    return False, found


def nexthop_indexes(data):
    """The interface indexes of an RTA_MULTIPATH attribute's nexthops."""
    return [index for (dummy, dummy2, dummy3, index), dummy4 in _records(data, 0, len(data), RTNEXTHOP)]


class Netlink(object):
    """Every netlink call of the module. Reads are dumps (addresses, IPv4 routes) on a stdlib socket; pyroute2
    (whose import costs more than the rest of a run that changes nothing) is loaded for a change."""

    def __init__(self, module):
        self.module = module
        self.ipr = None

    def close(self):
        if self.ipr is not None:
            self.ipr.close()

    def link_names(self):
        return dict(socket.if_nameindex())

    def link_index(self, name):
        try:
            return socket.if_nametoindex(name)
        except (OSError, ValueError):
            return None

    def _dump(self, request, query, reply, header):
        """The reply messages to a dump request (query: its header), read by read, as (header's fields,
        attributes); OSError when netlink refuses."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(query), request, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + query)
            done = False
            while not done:
                done, found = parse_messages(sock.recv(RECV_BUFFER), reply, header)
                yield from found
        finally:
            sock.close()

    def addresses(self):
        """[{'index', 'address': ip_interface, 'label'}] of every interface."""
        result = []
        try:
            for (family, prefixlen, dummy, dummy2, index), attributes in self._dump(
                    RTM_GETADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), RTM_NEWADDR, IFADDRMSG):
                # IPv4 keeps the address in IFA_LOCAL (IFA_ADDRESS is the peer's on point-to-point links).
                packed = attributes.get(IFA_LOCAL) or attributes.get(IFA_ADDRESS)
                if family not in (socket.AF_INET, socket.AF_INET6) or packed is None:
                    continue
                label = attributes.get(IFA_LABEL)
                result.append({'index': index, 'label': to_text(label.rstrip(b'\0')) if label else None,
                               'address': ipaddress.ip_interface((ipaddress.ip_address(packed), prefixlen))})
        except OSError as e:
            self.module.fail_json(msg='netlink refused to list the addresses: %s' % to_text(e))
        return result

    def routed_indexes(self):
        """The indexes of the interfaces that IPv4 routes of any table (policy routing's included) lead out
        of; OSError when netlink refuses. Routes through nexthop objects carry their interface only while
        net.ipv4.nexthop_compat_mode is 1 (the default)."""
        result = set()
        # Table 0 in the query: every table.
        for dummy, attributes in self._dump(RTM_GETROUTE, RTMSG.pack(socket.AF_INET, *(0,) * 8), RTM_NEWROUTE, RTMSG):
            if RTA_OIF in attributes:
                result.add(struct.unpack('=I', attributes[RTA_OIF])[0])
            result.update(nexthop_indexes(attributes.get(RTA_MULTIPATH, b'')))
        return result

    def _call(self, command, index, vip, **extra):
        try:
            if self.ipr is None:
                from pyroute2 import IPRoute
                self.ipr = IPRoute()
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
        self.unit_path = os.path.join(UNIT_DIR, VIPS_UNIT)

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

    def unit(self):
        interfaces = sorted(set(iface for iface, dummy in self.after['persist']) - set(['lo']))
        devices = ' '.join('sys-subsystem-net-devices-%s.device' % unit_escape(i) for i in interfaces)
        ordering = UNIT_ORDERING + ('Wants=%s\nAfter=%s\n' % (devices, devices) if devices else '')
        return Unit(VIPS_UNIT, 'lvs_vip', 'LVS-DR virtual IPs (lvs.dr)', self.paths['persist'], ordering,
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
            plan.add('install and enable %s' % VIPS_UNIT, unit.install, self.system)
        elif not self.after['persist'] and unit.present(self.system):
            plan.add('disable and remove %s' % VIPS_UNIT, unit.remove, self.system)

    def persist_file_after(self, persist):
        if persist:
            return self.paths['persist'] if self.after['persist'] else None
        return self.paths['persist'] if self.system.exists(self.paths['persist']) else None

    def unit_after(self, persist):
        installed = bool(self.after['persist']) if persist else self.system.exists(self.unit_path)
        return VIPS_UNIT if installed else None


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


class VipEngine(object):
    """lvs_vip's work on one host: validate(), then run(plan) -> (before, after, result).

    protection_planned: an earlier step of the same check-mode run will have suppressed ARP
    (lvs_realserver), so the gate's would-be refusals are not worth a warning.
    mangle_planned: likewise for the arptables mangle rules (method arptables).
    hints: the remedies the refusals name, {'arp': ..., 'ipv6': ...}; default HINTS (lvs_vip's options)."""

    def __init__(self, module, system, netlink, params, protection_planned=False, mangle_planned=False, hints=None):
        self.module = module
        self.hints = dict(HINTS, **(hints or {}))
        self.system = system
        self.netlink = netlink
        self.params = p = params
        self.protection_planned = protection_planned
        self.mangle_planned = mangle_planned
        # No vip (state=absent): every VIP the module owns, on every interface unless one is named.
        self.interface = p['interface'] or ('lo' if p['vip'] is not None else None)
        self.state = p['state']
        # present with exclusive: the list is the whole set, owned VIPs on every interface are in scope.
        self.exclusive = bool(p.get('exclusive')) and self.state == 'present'
        self.persist = p['persist']
        self.label = label_for(self.interface) if self.interface else None
        self.refusals = []
        self.index = None

    def validate(self):
        """Everything that can be wrong with the request, before anything is read or changed."""
        p = self.params
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
                    'lvs.dr suppresses that; %s' % (', '.join(ipv6), self.interface, self.hints['ipv6']))
            if p['require_arp_suppression']:
                self.module.fail_json(msg=text)
            self.module.warn('require_arp_suppression is false, going ahead: ' + text)

    def read(self):
        self.records = VipRecords(self.system, self.params['persist_file'],
                                  self.system.binary('ip', required=self.persist))
        self.live = {}
        self.elsewhere = {}
        names = self.netlink.link_names() if self.interface is None or self.exclusive else {self.index: self.interface}
        # (index, interface, entry) of every owned address in scope: this interface, or every one.
        self.owned_live = []
        self.ipv4_indexes = set()
        for entry in self.netlink.addresses():
            if entry['address'].version == 4:
                self.ipv4_indexes.add(entry['index'])
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
        arp_interfaces = self.params['arp_interfaces']
        arptables = Arptables(self.system, required=False)
        effective = effective_arp(read_arp_sysctls(self.system))
        result = {}
        for vip in ipv4:
            names = unprotected_interfaces(self.system, str(vip.ip), self.interface, arp_interfaces, arptables)
            result[str(vip.ip)] = names
            if names and vip in adding:
                self.refusals.append(describe_unprotected(vip, names, effective, self.interface, self.hints['arp']))
            elif names:
                self.module.warn('VIP %s is already present on %s but ARP for it is not suppressed on %s.'
                                 % (vip, self.interface, ', '.join(names)))
        # The mangle rule rewrites any ARP sender that is the VIP; a host meant to answer needs no warning.
        mangled = self.mangle_planned or all(arptables.present and arptables.mangles(str(vip.ip)) for vip in ipv4)
        if self.params['require_arp_suppression'] and not mangled:
            names = self.addressless(facing_interfaces(effective, arp_interfaces))
            if names:
                self.module.warn('Interfaces that route IPv4 but hold no IPv4 address: %s. ARP requests the host '
                                 'sends from them carry another interface\'s address as the sender, a VIP on lo '
                                 'included, whatever arp_announce says; give each an IPv4 address, or add '
                                 'arptables rules for the VIPs, whose mangle rule rewrites the sender.'
                                 % ', '.join(names))
        return result

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
            self.module.warn('netlink refused to list the IPv4 routes (%s): whether %s, up without an IPv4 address, '
                             'route IPv4 was not checked.' % (to_text(e), ', '.join(name for name, dummy in found)))
            return []
        return [name for name, index in found if index in routed]

    def apply_gate(self):
        if not self.refusals:
            return
        if not self.params['require_arp_suppression']:
            for text in self.refusals:
                self.module.warn('require_arp_suppression is false, going ahead: ' + text)
        elif self.module.check_mode:
            for text in [] if self.protection_planned else self.refusals:
                self.module.warn('Would be refused unless the suppression is in place when the play runs for '
                                 'real: ' + text)
        else:
            self.module.fail_json(msg=' '.join(self.refusals))

    def warn_kept(self, keys):
        """persist=false: the (interface, ip) of keys that stay in the boot record and come back at boot."""
        kept = sorted((key for key in set(keys) if key in self.records.after['persist']),
                      key=lambda key: (key[0], key[1].version, key[1]))
        if kept:
            self.module.warn('%s stay in %s (persist is false) and come back at the next boot.'
                             % (', '.join('%s on %s' % (ip, name) for name, ip in kept), self.records.paths['persist']))

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
        self.read()
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
                    self.warn_kept([(self.interface, vip.ip)])
        if self.exclusive:
            removing.extend(self.decide_others())
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
        return before, after, dict(interface=self.interface, vips=after_vips,
                                   added=[str(v) for v in adding], removed=removed, unowned=unowned,
                                   arp_unprotected=arp_unprotected,
                                   persist_file=self.records.persist_file_after(self.persist),
                                   unit=self.records.unit_after(self.persist))
