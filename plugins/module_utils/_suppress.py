# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The engines of lvs_arp_suppress (and of lvs_realserver's protection step): sysctl and arptables.

Each decides everything before its first plan step: a request that would leave a VIP lvs_vip holds
answering ARP (the VIP gate's rule, judged on the host as the plan will leave it) is refused, and
every ownership record is written before the change it records and forgotten after it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lvs.dr.plugins.module_utils._inputs import (
    check_interface, check_path, parse_unicast, parse_vips, unusable)
from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    ARP_KEYS, CONF_DIR, ETC_DIR, OWNED_RULES, RUN_DIR, SUPPRESS_MARKER, SUPPRESS_OWNER, SYSCTL_DIRS, Arptables,
    edit_saved, effective_arp, facing_interfaces, in_force, read_arp_sysctls, sysctl_suppresses, unprotected)
from ansible_collections.lvs.dr.plugins.module_utils._netlink import Netlink
from ansible_collections.lvs.dr.plugins.module_utils._plan import Engine, Refusal
from ansible_collections.lvs.dr.plugins.module_utils._system import read_owned
from ansible_collections.lvs.dr.plugins.module_utils._units import UNIT_DIR, VIPS_UNIT, Unit
from ansible_collections.lvs.dr.plugins.module_utils._vip import held_vips

OWNER, MARKER = SUPPRESS_OWNER, SUPPRESS_MARKER
PREVIOUS = '# previous '
SYSCTL_DEFAULTS = dict(interfaces=['all'], arp_ignore=1, arp_announce=2,
                       sysctl_file='/etc/sysctl.d/90-lvs-dr-arp.conf')
METHOD_OPTIONS = dict(sysctl=tuple(sorted(SYSCTL_DEFAULTS)), arptables=('interface', 'real_ip', 'vip'))
# The values the kernel takes (arp_ignore 0-8, arp_announce 0-2): a record naming another is not ours.
VALUES = dict(arp_ignore=range(0, 9), arp_announce=range(0, 3))
# arp_ignore 8: never reply, for the host's own addresses either.
NEVER_REPLY = 8
RHEL_UNIT = '/usr/lib/systemd/system/arptables.service'
RHEL_FILE = '/etc/sysconfig/arptables'
DEBIAN_FILE = ETC_DIR + '/arptables.rules'
DEBIAN_UNIT = 'lvs-dr-arptables.service'
# Like netfilter-persistent: early, without default dependencies, before any interface is configured.
DEBIAN_ORDERING = """
After=systemd-modules-load.service local-fs.target
Wants=network-pre.target
Before=network-pre.target %s shutdown.target
Conflicts=shutdown.target
""" % VIPS_UNIT
# <linux/rtnetlink.h>: what a default route of the main table is.

REMOVE_VIPS_FIRST = ('Remove the VIPs first (lvs.dr.lvs_vip state=absent, or lvs.dr.lvs_realserver or the '
                     'lvs_dr_realserver role with state absent, which remove them in the safe order), then lift the '
                     'suppression.')
RISK = 'The host would answer ARP for them at once and take the site from the director. Nothing was changed.'


class Steps(object):
    """Plan steps decided before they may be added to the plan (the records go around them)."""

    def __init__(self):
        self.steps = []

    def add(self, description, func, *args):
        self.steps.append((description, func) + args)

    def into(self, plan):
        for step in self.steps:
            plan.add(*step)


def where(names, effective, interface=None):
    """'NAME (effective arp_ignore=I, arp_announce=A), ...': why ARP is not suppressed on each of names."""
    parts = []
    for name in names:
        if name == interface:
            parts.append('%s (holds the VIP itself: only arptables rules protect it there)' % name)
        elif name in effective:
            parts.append('%s (effective arp_ignore=%d, arp_announce=%d)'
                         % (name, effective[name]['arp_ignore'], effective[name]['arp_announce']))
        else:
            parts.append(name)
    return ', '.join(parts)


def describe(problems, effective):
    """'VIP on IFACE: unsuppressed on ...; ...' per (vip, interface, names) problem."""
    return '; '.join('%s on %s: unsuppressed on %s' % (vip, interface, where(names, effective, interface))
                     for vip, interface, names in problems)


class Suppression(Engine):
    """What both methods share: the VIPs lvs_vip holds, read once, and the refusal to leave them answering ARP."""

    def __init__(self, system, params, check_mode=False, netlink=None, vips_planned_gone=False):
        super(Suppression, self).__init__(system, params, check_mode)
        self.netlink = netlink if netlink is not None else Netlink()
        self.vips_planned_gone = vips_planned_gone
        self._held = None

    def held(self):
        """[(interface, 'ip')] of the IPv4 VIPs lvs_vip holds on this host now."""
        if self._held is None:
            self._held = [(name, str(address.ip)) for name, address in held_vips(self.system, self.netlink)]
        return self._held

    def unprotecting(self, effective_before, effective_after, rules_before, rules_after, arptables, present):
        """(vip, interface, [names]) of the held VIPs the plan leaves answering ARP, by the VIP gate's rule
        (_arp.unprotected) on the host as the plan leaves it: with present, every interface facing the
        segment that does not suppress (but the VIP's own, which no sysctl protects); otherwise (a removal)
        the interfaces that did suppress before the plan and no longer do."""
        problems = []
        for interface, vip in self.held():
            after = unprotected(effective_after, interface, arptables.protects(vip, rules_after))
            if present:
                bad = [name for name in after if name != interface]
            else:
                before = unprotected(effective_before, interface, arptables.protects(vip, rules_before))
                bad = [name for name in after if name not in before]
            if bad:
                problems.append((vip, interface, bad))
        return problems


# --- method sysctl ---------------------------------------------------------------------------------

def conf_path(name, key):
    return '%s/%s/%s' % (CONF_DIR, name, key)


def sysctl_key(name, key):
    # sysctl.d(5): after a first '/' separator dots stay literal, so dotted (VLAN) names use slashes.
    if '.' in name:
        return 'net/ipv4/conf/%s/%s' % (name, key)
    return 'net.ipv4.conf.%s.%s' % (name, key)


def parse_sysctl_key(text):
    parts = text.strip().split('/' if text.strip().startswith('net/') else '.')
    if len(parts) != 5 or parts[:3] != ['net', 'ipv4', 'conf'] or parts[4] not in ARP_KEYS:
        raise ValueError(text)
    return parts[3], parts[4]


def item_order(item):
    name, key = item
    return (name != 'all', name != 'default', name, ARP_KEYS.index(key))


def render_sysctl(owned):
    """owned: {(name, key): (previous, value)} -> the sysctl.d text, the record in its comments."""
    items = sorted(owned, key=item_order)
    lines = [MARKER,
             '# LVS-DR real server: no ARP replies or announcements for VIPs held on another interface.',
             '# Values in force before the module set them; state=absent restores them where the live',
             '# value is still the one set here.']
    lines.extend('%s%s = %d' % (PREVIOUS, sysctl_key(*item), owned[item][0]) for item in items)
    lines.extend('%s = %d' % (sysctl_key(*item), owned[item][1]) for item in items)
    return '\n'.join(lines) + '\n'


def parse_sysctl(text):
    previous, values = {}, {}
    for line in (text or '').splitlines():
        line = line.strip()
        target = previous if line.startswith(PREVIOUS) else values
        if line.startswith(PREVIOUS):
            line = line[len(PREVIOUS):]
        elif not line or line[0] in '#;':
            continue
        key, dummy, value = line.partition('=')
        item = parse_sysctl_key(key)
        try:
            number = int(value)
        except ValueError:
            raise ValueError(line)
        if number not in VALUES[item[1]]:  # state=absent would write it back into /proc
            raise ValueError(line)
        target[item] = number
    return dict((item, (previous.get(item, value), value)) for item, value in values.items())


def nested(pairs):
    """{(name, key): value} -> {name: {key: value}}."""
    result = {}
    for (name, key), value in pairs.items():
        result.setdefault(name, {})[key] = value
    return result


def masking_file(system, path):
    """A file of the same name in a directory systemd-sysctl reads before path's, which it reads instead."""
    directory, name = os.path.split(path)
    for earlier in SYSCTL_DIRS[:SYSCTL_DIRS.index(directory)]:
        if (earlier, directory) == ('/usr/lib/sysctl.d', '/lib/sysctl.d'):
            continue  # one directory where /lib is a link to /usr/lib
        other = os.path.join(earlier, name)
        if system.exists(other):
            return other
    return None


class SysctlEngine(Suppression):
    """Method sysctl: validate(), then run(plan) -> (before, after, result)."""

    def validate(self):
        params = self.params
        present = params['state'] == 'present'
        try:
            # state=absent takes any path an earlier release accepted, so its file can still be removed.
            check_path(params['sysctl_file'], 'sysctl_file',
                       **(dict(suffix='.conf', directories=SYSCTL_DIRS) if present else {}))
            names = [check_interface(name, 'interfaces') for name in params['interfaces']] if present else []
        except ValueError as e:
            raise Refusal(str(e))
        if not present:
            return
        live = read_arp_sysctls(self.system)
        missing = [n for n in names if n not in live]
        if missing:
            raise Refusal('interfaces: %s does not exist (no %s/<name>/arp_ignore); give all and/or '
                          'existing interface names.' % (', '.join(missing), CONF_DIR))
        if params['arp_ignore'] == NEVER_REPLY:
            self.refuse_never_reply(names)
        masked = masking_file(self.system, params['sysctl_file']) if params['persist'] else None
        if masked:
            raise Refusal('sysctl_file %s is masked by %s: systemd-sysctl reads only the first file of a name (in '
                          'the order %s), so the suppression would not come back at boot while the VIPs would. '
                          'Choose another file name, or remove %s.'
                          % (params['sysctl_file'], masked, ', '.join(SYSCTL_DIRS), masked))

    def refuse_never_reply(self, names):
        """arp_ignore 8 stops every ARP reply, the host's own addresses included: refused wherever the host
        may need one, accepted only on an interface without IPv4 addresses and routes."""
        reasons, addresses = [], None
        for name in names:
            if name in ('all', 'default'):
                reasons.append('all (every interface, now and later)' if name == 'all'
                               else 'default (every interface created later)')
                continue
            if addresses is None:
                addresses = self.netlink.addresses()
            index = self.netlink.link_index(name)
            held = [str(entry['address']) for entry in addresses
                    if entry['index'] == index and entry['address'].version == 4]
            if held:
                reasons.append('%s (holds %s)' % (name, ', '.join(held)))
                continue
            try:
                if index in self.netlink.routed_indexes():
                    reasons.append('%s (IPv4 routes lead out of it)' % name)
            except OSError as e:
                reasons.append('%s (whether IPv4 routes lead out of it could not be read: %s)' % (name, to_text(e)))
        if reasons:
            raise Refusal('arp_ignore 8 (never reply) on %s: the host would stop answering ARP there for its own '
                          'addresses too and be cut off from the segment once the neighbours\' ARP caches expire. '
                          'Use arp_ignore 1 or 2, which answer for the host\'s own addresses and keep the VIPs quiet '
                          '(8 is accepted only on an interface that holds no IPv4 address and carries no IPv4 '
                          'route).' % '; '.join(reasons))

    def check_protection(self, live, after, present):
        """Refuse, before the first step, a plan that leaves a VIP lvs_vip holds answering ARP; with present and no
        VIP held yet, warn that lvs_vip will refuse to add one."""
        if self.vips_planned_gone:
            return
        params = self.params
        effective = effective_arp(after)
        quiet = [name for name in facing_interfaces(effective) if not sysctl_suppresses(effective[name])]
        if not quiet:  # every interface facing the segment suppresses: nothing to read
            return
        request = ('interfaces %s with arp_ignore %d and arp_announce %d'
                   % (', '.join(params['interfaces']), params['arp_ignore'], params['arp_announce'])
                   if present else 'state absent')
        if not self.held():
            if present:
                self.warn('%s leave ARP unsuppressed on %s: lvs.dr.lvs_vip will refuse to add an IPv4 VIP on lo '
                          'while that lasts. Keep arp_announce 2 and arp_ignore 1 or 2 on every interface facing the '
                          'segment (interfaces: [all], or name each).'
                          % (request, where(quiet, effective)))
            return
        arptables = Arptables(self.system, required=False)
        problems = self.unprotecting(effective_arp(live), effective, None, None, arptables, present)
        if not problems:
            return
        fix = ('Keep arp_announce 2 and arp_ignore 1 or 2 on every interface facing the segment (interfaces: [all], '
               'or name each), use method arptables for these VIPs, or remove the VIPs first.'
               if present else REMOVE_VIPS_FIRST)
        raise Refusal('%s would leave ARP unsuppressed for VIPs that lvs.dr.lvs_vip holds on this host: %s. %s %s'
                      % (request, describe(problems, effective), RISK, fix))

    def run(self, plan):
        system, params = self.system, self.params
        # Read again: an earlier step of the same lvs_realserver call may have changed it.
        live = read_arp_sysctls(system)
        present = params['state'] == 'present'
        file_path = params['sysctl_file']
        run_path = os.path.join(RUN_DIR, os.path.basename(file_path))
        texts, owned = {}, {}
        # The runtime record last: with persist=false it is the newer one, beside a boot file left as it is.
        for path in (file_path, run_path):
            texts[path] = read_owned(system, path, lambda t: t.startswith(MARKER + '\n'), OWNER)
            try:
                owned.update(parse_sysctl(texts[path]))
            except ValueError as e:
                raise Refusal('%s: cannot read the line %s (not a value the module writes); fix or remove the '
                              'file.' % (path, e))

        # Decide: every change, in the safety order, before anything is added to the plan.
        after = dict((name, dict(values)) for name, values in live.items())
        changes = []

        def set_value(item, value, why):
            changes.append((item, value, why))
            after[item[0]][item[1]] = value

        kept = {}
        if present:
            for name in sorted(set(params['interfaces']), key=params['interfaces'].index):
                for key in ARP_KEYS:
                    item = (name, key)
                    kept[item] = (owned[item][0] if item in owned else live[name][key], params[key])
                    if live[name][key] != params[key]:
                        set_value(item, params[key], 'set')
        # Released after the new scope is in force, so suppression never lapses while the scope moves.
        released = dict((item, owned[item]) for item in owned if item not in kept)
        restored = {}
        for item in sorted(released, key=item_order):
            name, key = item
            previous, ours = released[item]
            if name in live and live[name][key] == ours:
                restored[item] = previous
                if previous != ours:
                    set_value(item, previous, 'restore')
        # An interface created later (a VLAN, a bond, a bridge) starts with default's values, and the
        # kernel applies the larger of all's and its own.
        if present and not set(params['interfaces']) & set(['all', 'default']):
            newcomer = dict((key, max(after['all'][key], after['default'][key])) for key in ARP_KEYS)
            if not sysctl_suppresses(newcomer):
                self.warn('The sysctl scope names neither all nor default: an interface created later (a VLAN, a '
                          'bond, a bridge) gets arp_ignore=%(arp_ignore)d and arp_announce=%(arp_announce)d and '
                          'may answer or announce ARP for the VIPs; add default to the scope, or use all.' % newcomer)
        self.check_protection(live, after, present)

        content = render_sysctl(kept) if kept else None
        # persist=false manages the runtime layer only. The boot file of an earlier persistent run
        # stays, as the VIPs' boot record and the saved arptables table do: the boot layers change
        # together or not at all, so a VIP never comes back at boot without its suppression.
        boot_file = content if params['persist'] else texts[file_path]
        run_file = None if params['persist'] else content
        if boot_file not in (None, content):
            self.warn('%s stays as it is (persist is false) and applies again at the next boot.' % file_path)

        # The record first: a value the module takes over is recorded, with the value found, before it is set;
        # a value it gives back stays recorded until it is restored.
        current = dict(texts)
        record = file_path if params['persist'] else run_path
        if any(why == 'set' and item not in owned for item, dummy, why in changes):
            both = dict(owned)
            both.update(kept)
            text = render_sysctl(both)
            if text != current[record]:
                plan.add('write %s' % record, system.write, record, text)
                current[record] = text
        for (name, key), value, why in changes:
            plan.add('%s %s to %d' % (why, conf_path(name, key), value), system.set_proc, conf_path(name, key), value)
        for path, wanted in ((file_path, boot_file), (run_path, run_file)):
            if current[path] == wanted:
                continue
            if wanted is None:
                plan.add('remove %s' % path, system.remove, path)
            else:
                plan.add('write %s' % path, system.write, path, wanted)

        names = sorted(set(name for name, dummy in list(kept) + list(owned)))
        files = (file_path, run_path)
        before = dict(values=dict((n, live[n]) for n in names if n in live),
                      files=dict((p, texts[p]) for p in files))
        after_state = dict(values=dict((n, after[n]) for n in names if n in after),
                           files={file_path: boot_file, run_path: run_file})
        return before, after_state, dict(
            method='sysctl', effective=effective_arp(after),
            sysctl_file=file_path if boot_file is not None else None,
            previous=nested(dict((item, prev) for item, (prev, dummy) in kept.items()) if present else restored))


# --- method arptables ------------------------------------------------------------------------------

def parse_arptables_vips(texts):
    vips = []
    for iface in parse_vips(texts):
        if iface.version == 6:
            raise ValueError('%s is an IPv6 address: IPv6 has no ARP (neighbour discovery answers only for '
                             'addresses of the receiving interface), so it needs no suppression; list only '
                             'IPv4 VIPs with method=arptables.' % iface.ip)
        if iface.network.prefixlen != 32:
            raise ValueError('%s: arptables rules match single addresses; give the VIP as ADDRESS or '
                             'ADDRESS/32.' % iface)
        vips.append(str(iface.ip))
    return vips


def parse_real_ip(text, vips):
    """The address of a real_ip (the special addresses are refused by parse_unicast)."""
    try:
        ip = parse_unicast(text, 'real_ip')
    except ValueError as e:
        raise ValueError('%s The mangle rule needs the real server\'s own IPv4 address.' % e)
    if ip.version != 4:
        raise ValueError('real_ip %s is not an IPv4 address: the mangle rule rewrites the sender of IPv4 ARP.' % ip)
    if str(ip) in vips:
        raise ValueError('real_ip %s is one of the VIPs: it must be the real server\'s own unicast address on the '
                         'segment, or ARP would keep carrying the VIP.' % ip)
    return str(ip)


def rule_argv(rule):
    return ['-A', rule['chain']] + Arptables.argv(rule)


def for_vip(rule, vip):
    return vip in (rule.get('-d'), rule.get('-s')) and rule.get('-j') in ('DROP', 'mangle')


def move_to_head(system, arptables, rule):
    """Insert a copy at the head of the chain, then delete the old copy by its number: deleting by
    the options would take the new copy, and deleting first would leave the VIP unguarded. The old
    copy is the next one after the head, as the plan's table has it."""
    system.run([arptables.path, '-I', rule['chain'], '1'] + Arptables.argv(rule))
    arptables.refresh()
    chain = [r for r in arptables.rules if r['chain'] == rule['chain']]
    system.run([arptables.path, '-D', rule['chain'], str(chain.index(rule, 1) + 1)])
    arptables.refresh()
    if not in_force(arptables.rules, rule):  # another tool changed the chain in between
        raise Refusal('arptables %s changed while the module moved %s to its head; run again.'
                      % (rule['chain'], ' '.join(rule_argv(rule)[1:])))


class Persistence(object):
    """How this distribution restores arptables at boot, and the module's part in it.

    RHEL family: /etc/sysconfig/arptables is the administrator's file, which arptables.service restores; only
    the module's own lines in it change. Elsewhere: /etc/lvs-dr/arptables.rules is the module's own file,
    holding its rules only, restored by its own unit."""

    def __init__(self, system, arptables, recorded):
        self.system = system
        self.arptables = arptables
        self.rhel = system.exists(RHEL_UNIT)
        self.path = RHEL_FILE if self.rhel else DEBIAN_FILE
        if self.rhel:
            self.text = system.read(self.path)
        else:
            # Earlier releases wrote the whole table without a mark, beside the module's record.
            self.text = read_owned(system, self.path, lambda t: t.startswith(MARKER + '\n') or (
                recorded and t.startswith('*filter\n')), OWNER)

    def link(self):
        targets = [line.split('=', 1)[1].split() for line in (self.system.read(RHEL_UNIT) or '').splitlines()
                   if line.strip().startswith('WantedBy=')]
        target = targets[0][0] if targets and targets[0] else 'multi-user.target'
        return os.path.join(UNIT_DIR, target + '.wants', 'arptables.service')

    def debian_unit(self, restore):
        # Required by the VIPs' unit: should the restore fail at boot, the VIPs stay down rather
        # than come up without their rules.
        unit = Unit(DEBIAN_UNIT, OWNER, 'LVS-DR real server: arptables rules keeping ARP off the VIPs',
                    DEBIAN_FILE, DEBIAN_ORDERING,
                    'ExecStart=%s\nStandardInput=file:%s' % (restore, DEBIAN_FILE), required_by=VIPS_UNIT)
        read_owned(self.system, unit.path, unit.ours, OWNER)
        return unit

    def chains(self):
        return [self.arptables.input_chain, self.arptables.output_chain]

    def debian_text(self, rules):
        return MARKER + '\n' + edit_saved(None, [], rules, self.chains())

    def plan(self, steps, enabled_record, present, persist, saved, rules):
        """Add the persistence steps to steps. saved: the rules whose lines in the saved table are the
        module's (its persistent record); rules: the module's rules after the plan, in the table's order.
        Return (persist_file, unit, enabled): as they will be; enabled: the module enabled arptables.service."""
        system = self.system
        exists = self.text is not None
        if self.rhel:
            link, name = self.link(), 'arptables.service'
            enabled = system.exists(link)
        else:
            unit = self.debian_unit(system.binary('arptables-restore', required=present and persist))
            name, enabled = unit.name, unit.present(system)
        if not persist:  # the boot layer stays as it is
            return (self.path if exists else None), (name if enabled else None), enabled_record
        if self.rhel:
            if present or exists:
                # The mode iptables-services and arptables-save give it: the rules are nobody else's to read.
                self._write(steps, edit_saved(self.text, saved, rules, self.chains()),
                            "write the module's arptables rules into %s" % self.path, 0o600)
                exists = True
            if present and not enabled:
                steps.add('enable arptables.service', system.symlink, RHEL_UNIT, link)
                enabled_record = enabled = True
            elif not present and enabled_record and not rules and enabled:
                steps.add('disable arptables.service', system.remove, link)
                enabled_record = enabled = False
            return (self.path if exists else None), (name if enabled else None), enabled_record
        if present:
            self._write(steps, self.debian_text(rules), 'write %s' % self.path)
            if not unit.installed(system):
                steps.add('install %s' % name, unit.install, system)
            return self.path, name, False
        if not rules:
            if enabled:
                steps.add('remove %s' % name, unit.remove, system)
            if exists:
                steps.add('remove %s' % self.path, system.remove, self.path)
            return None, None, False
        if exists:
            self._write(steps, self.debian_text(rules), 'write %s' % self.path)
        return (self.path if exists else None), (name if enabled else None), False

    def _write(self, steps, text, description, mode=0o644):
        if text != self.text:
            steps.add(description, self.system.write, self.path, text, mode)


class ArptablesEngine(Suppression):
    """Method arptables: validate(), then run(plan) -> (before, after, result).

    keep: VIPs whose rules a state=absent request without vip leaves alone (the VIPs
    lvs_realserver's earlier steps hold)."""

    def __init__(self, system, params, check_mode=False, netlink=None, keep=(), vips_planned_gone=False):
        super(ArptablesEngine, self).__init__(system, params, check_mode, netlink, vips_planned_gone)
        self.keep = keep

    def validate(self):
        params, present = self.params, self.params['state'] == 'present'
        try:
            self.vips = parse_arptables_vips(params['vip']) if params['vip'] is not None else None
            self.real_ip = parse_real_ip(params['real_ip'], self.vips) if present and params['real_ip'] else None
            if present and params['interface'] is not None:
                check_interface(params['interface'])
        except ValueError as e:
            raise Refusal(str(e))
        # Without the binary on state=absent no rule can be in force: the table reads as empty.
        self.arptables = Arptables(self.system, required=present)
        if not present:
            return
        names = self.netlink.link_names()
        addresses = [(names.get(entry['index']), entry['address']) for entry in self.netlink.addresses()
                     if entry['address'].version == 4]
        held = set(ip for dummy, ip in self.held())
        for vip in self.vips:
            own = sorted(set(name for name, address in addresses if str(address.ip) == vip and name != 'lo'))
            if own and vip not in held:
                raise Refusal('vip %s is an address this host holds on %s that lvs.dr.lvs_vip did not add: a DROP rule '
                              'for it stops the host answering ARP for its own address, and it is cut off once the '
                              'neighbours\' caches expire. List only VIPs; a VIP added by hand on %s is removed and '
                              'left to lvs.dr.lvs_vip (after this module).' % (vip, ', '.join(own), ', '.join(own)))
        if self.real_ip is None:
            self.real_ip = self.derive_real_ip(names, addresses, held)
            return
        on = [name for name, address in addresses if str(address.ip) == self.real_ip and name != 'lo']
        if not on or self.real_ip in held:
            mine = ', '.join('%s on %s' % (address.ip, name) for name, address in addresses
                             if name != 'lo' and str(address.ip) not in held) or 'none'
            raise Refusal('real_ip %s is not an IPv4 address this host holds on an interface other than lo%s: the '
                          'mangle rule would send this host\'s ARP with that address and this host\'s MAC, and '
                          'poison the segment\'s ARP caches (with the gateway\'s address, the segment loses its '
                          'gateway). Give one of this host\'s own addresses (%s), or leave real_ip out to take it '
                          'from interface.'
                          % (self.real_ip, ' (it is a VIP lvs.dr.lvs_vip holds)' if self.real_ip in held else '', mine))

    def derive_real_ip(self, names, addresses, held):
        """The first IPv4 address (the primary: the kernel lists primaries before secondaries) of the interface
        facing the director, default the IPv4 default route's, that is no VIP."""
        interface = self.params['interface']
        if interface is None:
            indexes = self.netlink.default_route_indexes()
            interface = names.get(indexes[0]) if indexes else None
            if interface is None:
                raise Refusal('No IPv4 default route to find the interface facing the director; set interface or '
                              'real_ip.')
        elif self.netlink.link_index(interface) is None:
            raise Refusal('interface %s does not exist.' % interface)
        for name, address in addresses:
            ip = str(address.ip)
            if name == interface and ip not in self.vips and ip not in held and unusable(address.ip) is None:
                return ip
        raise Refusal('interface %s has no primary unicast IPv4 address other than the VIPs to use as real_ip; set '
                      'real_ip.' % interface)

    def check_protection(self, rules_before, rules_after):
        """Refuse, before the first step, removing rules that keep ARP off a VIP lvs_vip holds."""
        if self.vips_planned_gone or not self.held():
            return
        effective = effective_arp(read_arp_sysctls(self.system))
        problems = self.unprotecting(effective, effective, rules_before, rules_after, self.arptables, False)
        if problems:
            request = ('state absent for vip %s' % ', '.join(self.vips) if self.params['vip'] is not None
                       else 'state absent without vip (every rule the module owns)')
            if self.params['state'] == 'present':
                request = 'vip %s with real_ip %s' % (', '.join(self.vips), self.real_ip)
            raise Refusal('%s would remove the arptables rules that keep ARP off VIPs lvs.dr.lvs_vip holds on this '
                          'host: %s. %s %s' % (request, describe(problems, effective), RISK, REMOVE_VIPS_FIRST))

    def run(self, plan):
        system, params = self.system, self.params
        arptables, vips, real_ip = self.arptables, self.vips, self.real_ip
        present, persist = params['state'] == 'present', params['persist']
        if arptables.present:
            arptables.refresh()  # an earlier step of the same lvs_realserver call may have changed it

        paths = [os.path.join(d, OWNED_RULES) for d in (ETC_DIR, RUN_DIR)]
        texts, loaded_rules, recorded, enabled_record = {}, {}, [], False
        for path in paths:
            texts[path] = read_owned(system, path, lambda t: '"managed_by": "%s"' % OWNER in t, OWNER)
            try:
                loaded = json.loads(texts[path]) if texts[path] else dict(rules=[])
                loaded_rules[path] = loaded['rules']
                recorded.extend(r for r in loaded['rules'] if r not in recorded)
                enabled_record = enabled_record or bool(loaded.get('enabled'))
            except (ValueError, KeyError, TypeError):
                raise Refusal('%s: not a valid record of %s; fix or remove the file.' % (path, OWNER))
        before_rules = list(arptables.rules)
        table = list(arptables.rules)
        # A recorded rule no longer in force (reboot without persistence) is nobody's to delete.
        owned = [r for r in recorded if r in table]
        if vips is None:
            vips = sorted(set(r.get('-d') or r.get('-s') for r in owned) - set(self.keep), key=ipaddress.IPv4Address)

        # Decide every rule change before any step goes into the plan.
        changes, added = Steps(), []

        def change(verb, rule):
            text = '%s arptables rule %s' % (verb, ' '.join(rule_argv(rule)[1:]))
            if verb == 'delete':
                changes.add(text, system.run, [arptables.path, '-D', rule['chain']] + Arptables.argv(rule))
                table.remove(rule)
                owned.remove(rule)
                return
            # At the head of the chain: behind another tool's ACCEPT a rule would never be reached.
            if verb == 'add':
                changes.add(text, system.run, [arptables.path, '-I', rule['chain'], '1'] + Arptables.argv(rule))
                owned.append(rule)
                added.append(rule)
            else:
                changes.add(text + ' to the head of %s' % rule['chain'], move_to_head, system, arptables, rule)
                table.remove(rule)
            table.insert(arptables.head(table, rule['chain']), rule)

        for vip in vips:
            wanted = [arptables.drop_rule(vip), arptables.mangle_rule(vip, real_ip)] if present else []
            # DROP before mangle when adding; the new mangle before the stale one goes, so ARP never
            # leaves with the VIP as source in between.
            # A rule of the module behind another one moves to the head; a matching rule that was
            # already there (not the module's) is left where it is, and an own copy goes to the head.
            for rule in wanted:
                if not in_force(table, rule):
                    change('move' if rule in owned else 'add', rule)
            for rule in reversed([r for r in owned if for_vip(r, vip) and r not in wanted]):
                change('delete', rule)
        if len(table) < len(before_rules) or any(rule not in table for rule in before_rules):
            self.check_protection(before_rules, table)

        # The module's rules in the table's order (its own copy is the first of equal rules: the head).
        rules = sorted(owned, key=table.index)
        boot = Steps()
        persist_file, unit, enabled_after = Persistence(system, arptables, texts[paths[0]] is not None).plan(
            boot, enabled_record, present, persist, loaded_rules[paths[0]], rules)

        def record_text(rules, enabled):
            if not (rules or enabled):
                return None
            return json.dumps(dict(managed_by=OWNER, rules=rules, enabled=enabled), indent=2, sort_keys=True) + '\n'

        def keys(rules):
            return sorted(json.dumps(r, sort_keys=True) for r in rules)

        if not persist and persist_file and unit and keys(loaded_rules[paths[0]]) != keys(owned):
            self.warn('%s stays as it is (persist is false) and is restored at the next boot.' % persist_file)

        # persist=false: the boot layer's record stays with it (see Persistence.plan). The record names a rule
        # before the rule is added, and the enabled service before it is enabled; it forgets them after.
        record = paths[0] if persist else paths[1]
        current = texts[record]
        early = record_text(recorded + [r for r in added if r not in recorded],
                            persist and (enabled_record or enabled_after))
        if (added or (persist and enabled_after and not enabled_record)) and early != current:
            plan.add('write %s' % record, system.write, record, early)
            current = early
        changes.into(plan)
        boot.into(plan)
        final = record_text(owned, persist and enabled_after)
        if final != current:
            if final is None:
                plan.add('remove %s' % record, system.remove, record)
            else:
                plan.add('write %s' % record, system.write, record, final)
        if persist and texts[paths[1]] is not None:
            plan.add('remove %s' % paths[1], system.remove, paths[1])

        def ours(rules):
            return [rule_argv(r) for r in rules if any(for_vip(r, vip) for vip in vips)]

        result = dict(method='arptables', effective=effective_arp(read_arp_sysctls(system)), rules=ours(table),
                      persist_file=persist_file, unit=unit)
        if present:
            result['real_ip'] = real_ip
        return (dict(rules=ours(before_rules), owned=[rule_argv(r) for r in recorded]),
                dict(rules=ours(table), owned=[rule_argv(r) for r in owned], persist_file=persist_file, unit=unit),
                result)
