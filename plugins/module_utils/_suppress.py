# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The engines of lvs_arp_suppress (and of lvs_realserver's protection step): sysctl and arptables."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lvs.dr.plugins.module_utils._addresses import parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    ARP_KEYS, CONF_DIR, Arptables, effective_arp, in_force, listing_to_save, read_arp_sysctls, sysctl_suppresses)
from ansible_collections.lvs.dr.plugins.module_utils._units import UNIT_DIR, VIPS_UNIT, Unit

OWNER = 'lvs.dr.lvs_arp_suppress'
MARKER = '# Managed by the lvs.dr Ansible collection (%s); changes here are overwritten.' % OWNER
PREVIOUS = '# previous '
ETC_DIR = '/etc/lvs-dr'
RUN_DIR = '/run/lvs-dr'
SYSCTL_DEFAULTS = dict(interfaces=['all'], arp_ignore=1, arp_announce=2,
                       sysctl_file='/etc/sysctl.d/90-lvs-dr-arp.conf')
METHOD_OPTIONS = dict(sysctl=tuple(sorted(SYSCTL_DEFAULTS)), arptables=('interface', 'real_ip', 'vip'))
OWNED_RULES = 'arptables-owned.json'
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


def read_owned(module, system, path, is_ours):
    """Text of a file the module owns, None when absent; refuse a file someone else wrote."""
    text = system.read(path)
    if text is not None and not is_ours(text):
        module.fail_json(msg='%s exists and was not written by %s; refusing to take it over. Remove it or '
                             'choose another path.' % (path, OWNER))
    return text


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
        target[parse_sysctl_key(key)] = int(value)
    return dict((item, (previous.get(item, value), value)) for item, value in values.items())


def nested(pairs):
    """{(name, key): value} -> {name: {key: value}}."""
    result = {}
    for (name, key), value in pairs.items():
        result.setdefault(name, {})[key] = value
    return result


class SysctlEngine(object):
    """Method sysctl: validate(), then run(plan) -> (before, after, result)."""

    def __init__(self, module, system, params):
        self.module, self.system, self.params = module, system, params

    def validate(self):
        if self.params['state'] == 'present':
            live = read_arp_sysctls(self.system)
            missing = [n for n in self.params['interfaces'] if n not in live]
            if missing:
                self.module.fail_json(msg='interfaces: %s does not exist (no %s/<name>/arp_ignore); give all and/or '
                                          'existing interface names.' % (', '.join(missing), CONF_DIR))

    def run(self, plan):
        module, system, params = self.module, self.system, self.params
        # Read again: an earlier step of the same lvs_realserver call may have changed it.
        live = read_arp_sysctls(system)
        present = params['state'] == 'present'
        file_path = params['sysctl_file']
        run_path = os.path.join(RUN_DIR, os.path.basename(file_path))
        texts, owned = {}, {}
        # The runtime record last: with persist=false it is the newer one, beside a boot file left as it is.
        for path in (file_path, run_path):
            texts[path] = read_owned(module, system, path, lambda t: t.startswith(MARKER + '\n'))
            try:
                owned.update(parse_sysctl(texts[path]))
            except ValueError as e:
                module.fail_json(msg='%s: cannot read the line for %s; fix or remove the file.' % (path, e))

        after = dict((name, dict(values)) for name, values in live.items())

        def set_value(item, value, why):
            name, key = item
            plan.add('%s %s to %d' % (why, conf_path(name, key), value), system.set_proc, conf_path(name, key), value)
            after[name][key] = value

        kept = {}
        if present:
            for name in params['interfaces']:
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
                module.warn('The sysctl scope names neither all nor default: an interface created later (a VLAN, a '
                            'bond, a bridge) gets arp_ignore=%(arp_ignore)d and arp_announce=%(arp_announce)d and '
                            'may answer or announce ARP for the VIPs; add default to the scope, or use all.' % newcomer)
        content = render_sysctl(kept) if kept else None
        # persist=false manages the runtime layer only. The boot file of an earlier persistent run
        # stays, as the VIPs' boot record and the saved arptables table do: the boot layers change
        # together or not at all, so a VIP never comes back at boot without its suppression.
        boot_file = content if params['persist'] else texts[file_path]
        run_file = None if params['persist'] else content
        if boot_file not in (None, content):
            module.warn('%s stays as it is (persist is false) and applies again at the next boot.' % file_path)
        for path, wanted in ((file_path, boot_file), (run_path, run_file)):
            if texts[path] == wanted:
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
    try:
        ip = ipaddress.IPv4Address(to_text(text).strip())
    except ValueError:
        raise ValueError('real_ip %r is not an IPv4 address.' % text)
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local or str(ip) in vips:
        raise ValueError('real_ip %s must be the real server\'s own unicast address on the segment, not a '
                         'VIP, loopback, multicast, link-local or unspecified address.' % ip)
    return str(ip)


def derive_real_ip(module, system, interface, vips):
    """The primary IPv4 address of the interface facing the director (default: default route's)."""
    ip = system.binary('ip')
    if interface is None:
        dummy, out, dummy2 = system.run([ip, '-4', 'route', 'show', 'default'])
        devs = [w[w.index('dev') + 1] for w in (line.split() for line in out.splitlines()) if 'dev' in w[:-1]]
        if not devs:
            module.fail_json(msg='No IPv4 default route to find the interface facing the director; set '
                                 'interface or real_ip.')
        interface = devs[0]
    elif interface not in system.listdir(CONF_DIR):
        module.fail_json(msg='interface %s does not exist.' % interface)
    dummy, out, dummy2 = system.run([ip, '-o', '-4', 'addr', 'show', 'dev', interface])
    for words in (line.split() for line in out.splitlines()):
        if 'inet' in words[:-1] and 'secondary' not in words:
            try:
                return parse_real_ip(words[words.index('inet') + 1].split('/')[0], vips)
            except ValueError:
                continue
    module.fail_json(msg='interface %s has no primary unicast IPv4 address other than the VIPs to use as '
                         'real_ip; set real_ip.' % interface)


def rule_argv(rule):
    return ['-A', rule['chain']] + Arptables.argv(rule)


def for_vip(rule, vip):
    return vip in (rule.get('-d'), rule.get('-s')) and rule.get('-j') in ('DROP', 'mangle')


def strip_comments(text):
    lines = [line.rstrip() for line in (text or '').splitlines()]
    return ''.join('%s\n' % line for line in lines if line and not line.startswith('#'))


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
        system.module.fail_json(msg='arptables %s changed while the module moved %s to its head; run again.'
                                    % (rule['chain'], ' '.join(rule_argv(rule)[1:])))


def save_table(system, arptables, path):
    """Save the table as it is once the plan's rules are in (numeric: see listing_to_save)."""
    arptables.refresh()
    system.write(path, listing_to_save(arptables.listing))


class Persistence(object):
    """How this distribution restores arptables at boot, and the module's part in it."""

    def __init__(self, system, arptables):
        self.system = system
        self.arptables = arptables
        self.rhel = system.exists(RHEL_UNIT)
        self.path = RHEL_FILE if self.rhel else DEBIAN_FILE

    def link(self):
        targets = [line.split('=', 1)[1].split() for line in (self.system.read(RHEL_UNIT) or '').splitlines()
                   if line.strip().startswith('WantedBy=')]
        target = targets[0][0] if targets and targets[0] else 'multi-user.target'
        return os.path.join(UNIT_DIR, target + '.wants', 'arptables.service')

    def debian_unit(self, restore):
        # Required by the VIPs' unit: should the restore fail at boot, the VIPs stay down rather
        # than come up without their rules.
        return Unit(DEBIAN_UNIT, OWNER, 'LVS-DR real server: arptables rules keeping ARP off the VIPs',
                    DEBIAN_FILE, DEBIAN_ORDERING,
                    'ExecStart=%s\nStandardInput=file:%s' % (restore, DEBIAN_FILE), required_by=VIPS_UNIT)

    def plan(self, plan, record, present, persist, rules_change, owned_left):
        """Add the persistence steps; return (persist_file, unit) as they will be."""
        system = self.system
        exists = system.exists(self.path)
        if self.rhel:
            link, name = self.link(), 'arptables.service'
            enabled = system.exists(link)
        else:
            unit = self.debian_unit(system.binary('arptables-restore', required=present and persist))
            name, enabled = unit.name, unit.present(system)
        if not persist:  # the boot layer stays as it is
            return (self.path if exists else None), (name if enabled else None)
        if self.rhel:
            if present or exists:
                self._sync(plan, rules_change)
                exists = True
            if present and not enabled:
                plan.add('enable arptables.service', system.symlink, RHEL_UNIT, link)
                record['enabled'] = enabled = True
            elif not present and record['enabled'] and not owned_left and enabled:
                plan.add('disable arptables.service', system.remove, link)
                record['enabled'] = enabled = False
            return (self.path if exists else None), (name if enabled else None)
        if present:
            self._sync(plan, rules_change)
            if not unit.installed(system):
                plan.add('install %s' % name, unit.install, system)
            return self.path, name
        if not owned_left:
            if enabled:
                plan.add('remove %s' % name, unit.remove, system)
            if exists:
                plan.add('remove %s' % self.path, system.remove, self.path)
            return None, None
        if exists:
            self._sync(plan, rules_change)
        return (self.path if exists else None), (name if enabled else None)

    def _sync(self, plan, rules_change):
        if not self.arptables.present:
            return  # no arptables, no table to save; the saved file stays as it is
        if rules_change or strip_comments(self.system.read(self.path)) != listing_to_save(self.arptables.listing):
            plan.add('save the arptables table to %s' % self.path, save_table, self.system, self.arptables, self.path)


class ArptablesEngine(object):
    """Method arptables: validate(), then run(plan) -> (before, after, result).

    keep: VIPs whose rules a state=absent request without vip leaves alone (the VIPs
    lvs_realserver's earlier steps hold)."""

    def __init__(self, module, system, params, keep=()):
        self.module, self.system, self.params, self.keep = module, system, params, keep

    def validate(self):
        params, present = self.params, self.params['state'] == 'present'
        # Without the binary on state=absent no rule can be in force: the table reads as empty.
        self.arptables = Arptables(self.system, required=present)
        try:
            self.vips = parse_arptables_vips(params['vip']) if params['vip'] is not None else None
            self.real_ip = parse_real_ip(params['real_ip'], self.vips) if present and params['real_ip'] else None
        except ValueError as e:
            self.module.fail_json(msg=str(e))
        if present and self.real_ip is None:
            self.real_ip = derive_real_ip(self.module, self.system, params['interface'], self.vips)

    def run(self, plan):
        module, system, params = self.module, self.system, self.params
        arptables, vips, real_ip = self.arptables, self.vips, self.real_ip
        present = params['state'] == 'present'
        if arptables.present:
            arptables.refresh()  # an earlier step of the same lvs_realserver call may have changed it

        paths = [os.path.join(d, OWNED_RULES) for d in (ETC_DIR, RUN_DIR)]
        texts, record, loaded_rules = {}, dict(rules=[], enabled=False), {}
        for path in paths:
            texts[path] = read_owned(module, system, path, lambda t: '"managed_by": "%s"' % OWNER in t)
            try:
                loaded = json.loads(texts[path]) if texts[path] else dict(rules=[])
                loaded_rules[path] = loaded['rules']
                record['rules'].extend(r for r in loaded['rules'] if r not in record['rules'])
                record['enabled'] = record['enabled'] or bool(loaded.get('enabled'))
            except (ValueError, KeyError, TypeError):
                module.fail_json(msg='%s: not a valid record of %s; fix or remove the file.' % (path, OWNER))
        owned_before = list(record['rules'])
        before_rules = list(arptables.rules)
        table = list(arptables.rules)
        # A recorded rule no longer in force (reboot without persistence) is nobody's to delete.
        owned = [r for r in record['rules'] if r in table]
        if vips is None:
            vips = sorted(set(r.get('-d') or r.get('-s') for r in owned) - set(self.keep), key=ipaddress.IPv4Address)

        def change(verb, rule):
            text = '%s arptables rule %s' % (verb, ' '.join(rule_argv(rule)[1:]))
            if verb == 'delete':
                plan.add(text, system.run, [arptables.path, '-D', rule['chain']] + Arptables.argv(rule))
                table.remove(rule)
                owned.remove(rule)
                return
            # At the head of the chain: behind another tool's ACCEPT a rule would never be reached.
            if verb == 'add':
                plan.add(text, system.run, [arptables.path, '-I', rule['chain'], '1'] + Arptables.argv(rule))
                owned.append(rule)
            else:
                plan.add(text + ' to the head of %s' % rule['chain'], move_to_head, system, arptables, rule)
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

        record['rules'] = owned
        rules_change = table != before_rules
        persist_file, unit = Persistence(system, arptables).plan(plan, record, present, params['persist'],
                                                                 rules_change, bool(owned))

        def record_text(enabled):
            if not (record['rules'] or enabled):
                return None
            return json.dumps(dict(managed_by=OWNER, rules=record['rules'], enabled=enabled),
                              indent=2, sort_keys=True) + '\n'

        # persist=false: the boot layer's record stays with it (see Persistence.plan).
        if params['persist']:
            records = {paths[0]: record_text(record['enabled']), paths[1]: None}
        else:
            records = {paths[1]: record_text(False)}

        def keys(rules):
            return sorted(json.dumps(r, sort_keys=True) for r in rules)

        if not params['persist'] and persist_file and unit and keys(loaded_rules[paths[0]]) != keys(owned):
            module.warn('%s stays as it is (persist is false) and is restored at the next boot.' % persist_file)
        for path, wanted in sorted(records.items()):
            if texts[path] != wanted:
                if wanted is None:
                    plan.add('remove %s' % path, system.remove, path)
                else:
                    plan.add('write %s' % path, system.write, path, wanted)

        def ours(rules):
            return [rule_argv(r) for r in rules if any(for_vip(r, vip) for vip in vips)]

        result = dict(method='arptables', effective=effective_arp(read_arp_sysctls(system)), rules=ours(table),
                      persist_file=persist_file, unit=unit)
        if present:
            result['real_ip'] = real_ip
        return (dict(rules=ours(before_rules), owned=[rule_argv(r) for r in owned_before]),
                dict(rules=ours(table), owned=[rule_argv(r) for r in owned], persist_file=persist_file, unit=unit),
                result)
