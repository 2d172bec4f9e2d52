# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The engine of lvs_redirect (and of lvs_realserver's REDIRECT step): iptables and firewalld layers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import shlex

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.lvs.dr.plugins.module_utils._addresses import check_port, parse_vips

# Each backend marks its rules with its own comment: firewalld's direct rules end up as iptables
# rules in the kernel, identical to the iptables backend's but for this mark.
COMMENTS = {'iptables': 'lvs.dr redirect iptables', 'firewalld': 'lvs.dr redirect firewalld'}
FAMILIES = {4: 'ipv4', 6: 'ipv6'}
RUNTIME = 'runtime'
PERSISTENT = 'persistent'

# Where each distribution's boot-time restore reads the saved rules, told apart by its release
# file; the modes are those the distribution's own save tools create.
IPTABLES_PERSIST = (
    ('/etc/debian_version', {'ipv4': '/etc/iptables/rules.v4', 'ipv6': '/etc/iptables/rules.v6'}, 0o640),
    ('/etc/redhat-release', {'ipv4': '/etc/sysconfig/iptables', 'ipv6': '/etc/sysconfig/ip6tables'}, 0o600),
)
FIREWALLD_DIRECT_FILE = '/etc/firewalld/direct.xml'
FIREWALLD_ENABLED = '/etc/systemd/system/multi-user.target.wants/firewalld.service'
# The rules files the iptables backend created (absent before its first save), one path a line.
CREATED_RECORD = '/etc/lvs-dr/iptables-created'
IPTABLES_TOOLS = {
    'ipv4': ('iptables', 'iptables-save', 'iptables-restore'),
    'ipv6': ('ip6tables', 'ip6tables-save', 'ip6tables-restore'),
}


class Rule(object):
    """One REDIRECT rule: a VIP, a port and a protocol."""

    def __init__(self, iface, port, protocol, comment):
        self.family = FAMILIES[iface.version]
        self.ip = iface.ip
        self.vip = str(iface.ip)
        self.prefix = iface.max_prefixlen
        self.port = port
        self.protocol = protocol
        self.comment = comment

    @property
    def spec(self):
        """The match and target, in the order iptables -S / iptables-save print them."""
        return ['-d', '%s/%d' % (self.vip, self.prefix), '-p', self.protocol, '-m', self.protocol,
                '--dport', str(self.port), '-m', 'comment', '--comment', self.comment, '-j', 'REDIRECT']

    @property
    def saved_line(self):
        """The rule as iptables-save writes it (the comment is quoted)."""
        spec = ['"%s"' % arg if arg == self.comment else arg for arg in self.spec]
        return ' '.join(['-A', 'PREROUTING'] + spec)

    @property
    def label(self):
        return '%s %s %s port %d' % (self.family, self.protocol, self.vip, self.port)

    @property
    def key(self):
        return (self.ip.version, self.ip, self.port, self.protocol)

    def data(self, **extra):
        result = dict(family=self.family, vip=self.vip, port=self.port, protocol=self.protocol)
        result.update(extra)
        return result


def parse_rule(family, args, comment):
    """The Rule whose spec is exactly args (the module's own form, this comment), else None."""
    if len(args) != 14:
        return None
    try:
        iface = ipaddress.ip_interface(to_text(args[1]))
        rule = Rule(iface, int(args[7]), args[3], comment)
    except (ValueError, KeyError):
        return None
    return rule if rule.family == family and rule.spec == list(args) else None


def split_line(line):
    try:
        return shlex.split(line)
    except ValueError:  # unbalanced quotes: not a line the module wrote
        return []


class Layer(object):
    """Where a rule can live (runtime or persistent): observed per rule, changed by steps."""

    name = None

    def present(self, rule):
        raise NotImplementedError

    def owned(self, families):
        """Every rule of the module in this layer for these families, found by listing."""
        raise NotImplementedError

    def plan(self, plan, to_add, to_remove):
        """Add the steps that add to_add and remove to_remove; return the files they write."""
        raise NotImplementedError


class CommandLayer(Layer):
    """A layer probed, added to and removed from one rule at a time by a command.

    files: what the tool itself writes when this layer changes (reported, not written here).
    """

    def __init__(self, system, name, probe, add, remove, listing, files=()):
        self.system = system
        self.name = name
        self.files = list(files)
        self._argv = dict(probe=probe, add=add, remove=remove)
        self._listing = listing

    def argv(self, action, rule):
        return self._argv[action](rule)

    def present(self, rule):
        argv = self.argv('probe', rule)
        rc, out, err = self.system.query(argv, check=False)
        if rc not in (0, 1):
            self.system.module.fail_json(msg='Cannot probe for the rule %s: %s: %s'
                                             % (rule.label, ' '.join(argv), (err or out).strip()),
                                         cmd=argv, rc=rc, stdout=out, stderr=err)
        return rc == 0

    def owned(self, families):
        return self._listing(families)

    def plan(self, plan, to_add, to_remove):
        for action, rules in (('remove', to_remove), ('add', to_add)):
            for rule in rules:
                plan.add('%s %s (%s)' % (action, rule.label, self.name), self.system.run, self.argv(action, rule))
        return list(self.files) if to_add or to_remove else []


class SavedRulesLayer(Layer):
    """The distribution's iptables rules file, one per family, rewritten from the live dump.

    A file the module created (listed in CREATED_RECORD) is removed again, rather than rewritten,
    once the dump holds no rule at all: removal leaves the host as it found it."""

    name = PERSISTENT

    def __init__(self, system, files, mode):
        self.system = system
        self.files = files
        self.mode = mode
        self._lines = {}
        self._created = set((system.read(CREATED_RECORD) or '').split())

    def _saved_lines(self, family):
        if family not in self._lines:
            text = self.system.read(self.files[family]) or ''
            self._lines[family] = set(line.strip() for line in _nat_section(text))
        return self._lines[family]

    def present(self, rule):
        return rule.saved_line in self._saved_lines(rule.family)

    def owned(self, families):
        return [rule for family in families for rule in
                (parse_rule(family, split_line(line)[2:], COMMENTS['iptables'])
                 for line in sorted(self._saved_lines(family))
                 if line.startswith('-A PREROUTING ')) if rule]

    def plan(self, plan, to_add, to_remove):
        families = sorted(set(rule.family for rule in to_add + to_remove))
        created, steps = set(self._created), []
        for family in families:
            path = self.files[family]
            if to_add and not self.system.exists(path):
                created.add(path)
            if not to_add and path in created and not _holds_rules(self._dump(family, to_remove)):
                created.discard(path)
                steps.append(('remove %s (created by lvs_redirect, no rule left to save)' % path,
                              self.system.remove, (path,)))
            else:
                steps.append(('save the %s rules to %s' % (family, path), self._save, (family,)))
        # Recorded before a file is created and forgotten after it is removed, so an interrupted
        # run never leaves a created file unrecorded.
        record = ('record the rules files lvs_redirect created in %s' % CREATED_RECORD, self._record, (created,))
        if created > self._created:
            steps.insert(0, record)
        elif created != self._created:
            steps.append(record)
        for description, func, args in steps:
            plan.add(description, func, *args)
        return [self.files[family] for family in families]

    def _record(self, created):
        if created:
            self.system.write(CREATED_RECORD, ''.join('%s\n' % path for path in sorted(created)))
        else:
            self.system.remove(CREATED_RECORD)

    def _dump(self, family, without=()):
        """The live iptables-save dump as the rules file should hold it, less the rules `without`."""
        dummy, save, dummy2 = IPTABLES_TOOLS[family]
        dummy, dump, dummy2 = self.system.query([self.system.binary(save)])
        dropped = set(rule.key for rule in without)

        def kept(line):
            if not line.startswith('-A PREROUTING '):
                return True
            args = split_line(line)[2:]
            # firewalld restores its direct rules itself; a copy here would outlive their removal.
            if parse_rule(family, args, COMMENTS['firewalld']):
                return False
            rule = parse_rule(family, args, COMMENTS['iptables'])
            return not (rule and rule.key in dropped)
        return ''.join(line for line in dump.splitlines(True) if kept(line))

    def _save(self, family):
        dummy, dummy2, restore = IPTABLES_TOOLS[family]
        dump = self._dump(family)
        # A dump the restore tool rejects would leave the host without rules at the next boot.
        self.system.run([self.system.binary(restore), '--test'], data=dump)
        self.system.write(self.files[family], dump, mode=self.mode)


def _holds_rules(dump):
    """Whether an iptables-save dump holds anything a boot should restore: a rule, a user chain
    or a built-in chain whose policy is not ACCEPT."""
    for line in dump.splitlines():
        if line.startswith('-A '):
            return True
        if line.startswith(':') and line.split()[1:2] != ['ACCEPT']:
            return True
    return False


def _nat_section(text):
    """Lines of the *nat table of an iptables-save file."""
    inside = False
    for line in text.splitlines():
        if line.startswith('*'):
            inside = line.strip() == '*nat'
        elif inside:
            yield line


def iptables_layers(system, families, persist, present):
    """The layers and the families they cover. For state=absent a family whose tool is missing is
    left out: nothing of the module's can be in force there, and its saved file cannot be redone."""
    tools = {}
    for family in families:
        path = system.binary(IPTABLES_TOOLS[family][0], required=present)
        if path is not None:
            tools[family] = path
    families = sorted(tools)
    if not families:
        return [], families

    def command(flag):
        return lambda rule: [tools[rule.family], '-t', 'nat', flag, 'PREROUTING'] + rule.spec

    def listing(wanted):
        rules = []
        for family in wanted:
            dummy, out, dummy2 = system.query([tools[family], '-t', 'nat', '-S', 'PREROUTING'])
            rules.extend(parse_rule(family, split_line(line)[2:], COMMENTS['iptables']) for line in out.splitlines()
                         if line.startswith('-A PREROUTING '))
        return [rule for rule in rules if rule]

    layers = [CommandLayer(system, RUNTIME, command('-C'), command('-A'), command('-D'), listing)]
    known = [(files, mode) for marker, files, mode in IPTABLES_PERSIST if system.exists(marker)]
    if persist and not known and present:
        system.module.fail_json(
            msg='persist=true, but this distribution keeps its saved iptables rules in no place '
                'the module knows (neither %s exists); set persist=false and save the rules '
                'another way.' % ' nor '.join(marker for marker, dummy, dummy2 in IPTABLES_PERSIST))
    # state=absent where no saved-rules file is known: the module cannot have saved a rule anywhere.
    if persist and known:
        for family in families:
            # Fail on a missing save/restore tool now, before anything changed.
            for tool in IPTABLES_TOOLS[family][1:]:
                system.binary(tool)
        layers.append(SavedRulesLayer(system, *known[0]))
        if present and system.exists(FIREWALLD_ENABLED):
            system.module.warn('firewalld is enabled: when it starts at boot it resets the iptables rules, so the '
                               'saved REDIRECT rules will not be in force after a reboot. Disable firewalld '
                               '(systemctl disable --now firewalld) or use backend firewalld.')
    return layers, families


def firewalld_rules_may_exist(system, persist):
    """For state=absent, whether a rule of the firewalld backend can exist, found without
    firewall-cmd (a Python program: about half a second per call): its runtime direct rules are
    iptables rules in the kernel, its permanent ones are in direct.xml, both with their comment."""
    comment = COMMENTS['firewalld']
    if persist and comment in (system.read(FIREWALLD_DIRECT_FILE) or ''):
        return True
    for family in sorted(IPTABLES_TOOLS):
        tool = system.binary(IPTABLES_TOOLS[family][0], required=False)
        if tool is not None and comment in system.query([tool, '-t', 'nat', '-S', 'PREROUTING'], check=False)[1]:
            return True
    return False


def firewalld_layers(system, persist, present):
    """The runtime and permanent layers. For state=absent: none without firewall-cmd (firewalld
    was never installed); only the permanent one, through firewall-offline-cmd, while firewalld is
    stopped (its runtime rules died with it)."""
    firewall_cmd = system.binary('firewall-cmd', required=present)
    if firewall_cmd is None or not (present or firewalld_rules_may_exist(system, persist)):
        return []
    rc, out, err = system.query([firewall_cmd, '--state'], check=False)
    running = rc == 0
    if not running and present:
        system.module.fail_json(
            msg='firewalld is not running (firewall-cmd --state: %s); start it (systemctl start '
                'firewalld) or choose backend: iptables.' % ((out or err).strip() or 'rc=%d' % rc))

    def layer(name, base, files):
        def command(action):
            return lambda rule: base + ['--direct', action, rule.family, 'nat', 'PREROUTING', '0'] + rule.spec

        def listing(families):
            dummy, out, dummy2 = system.query(base + ['--direct', '--get-all-rules'])
            rules = (parse_rule(words[0], words[4:], COMMENTS['firewalld'])
                     for words in (split_line(line) for line in out.splitlines())
                     if words[:4] in ([family, 'nat', 'PREROUTING', '0'] for family in families))
            return [rule for rule in rules if rule]
        return CommandLayer(system, name, command('--query-rule'), command('--add-rule'), command('--remove-rule'),
                            listing, files)

    # Runtime and permanent configuration each get their own call, so no --reload is needed.
    # firewall-offline-cmd takes the same --direct options and edits the permanent configuration.
    layers = []
    if running:
        layers.append(layer(RUNTIME, [firewall_cmd], []))
    if persist:
        base = [firewall_cmd, '--permanent'] if running else [system.binary('firewall-offline-cmd')]
        layers.append(layer(PERSISTENT, base, [FIREWALLD_DIRECT_FILE]))
    return layers


class Request(object):
    """The validated request: the exact rule set, or (state=absent with vip, ports or protocols
    omitted) a filter over the rules the module finds; ValueError names the bad input."""

    def __init__(self, params, keep=()):
        self.keep = frozenset(keep)
        for option in ('vip', 'ports', 'protocols'):
            if params[option] == []:
                raise ValueError('%s must name at least one value.' % option)
        if params['state'] == 'present' and params['protocols'] is None:
            params = dict(params, protocols=['tcp'])
        self.vips = parse_vips(params['vip']) if params['vip'] is not None else None
        for iface in self.vips or []:
            if iface.network.prefixlen != iface.max_prefixlen:
                raise ValueError('%s: a REDIRECT rule matches a single destination address; give the VIP '
                                 'without a prefix or as /%d.' % (iface, iface.max_prefixlen))
        self.ports = sorted(set(check_port(port) for port in params['ports'])) if params['ports'] else None
        self.protocols = sorted(set(params['protocols'])) if params['protocols'] else None
        self.exact = None not in (self.vips, self.ports, self.protocols)
        wanted = self.vips if self.vips is not None else [ipaddress.ip_interface(u'0.0.0.0'),
                                                          ipaddress.ip_interface(u'::')]
        self.families = sorted(set(FAMILIES[iface.version] for iface in wanted))

    def rules(self, comment):
        return [Rule(iface, port, protocol, comment) for iface in self.vips for port in self.ports
                for protocol in self.protocols]

    def matches(self, rule):
        return ((self.vips is None or rule.ip in [iface.ip for iface in self.vips])
                and (self.ports is None or rule.port in self.ports)
                and (self.protocols is None or rule.protocol in self.protocols)
                and rule.key not in self.keep)


class RedirectEngine(object):
    """lvs_redirect's work on one host: validate(), then run(plan) -> (before, after, result).

    keep: Rule keys a state=absent request without vip, ports or protocols leaves alone (the rules
    lvs_realserver's earlier steps want)."""

    def __init__(self, module, system, params, keep=()):
        self.module, self.system, self.params, self.keep = module, system, params, keep

    def validate(self):
        try:
            self.request = Request(self.params, self.keep)
        except ValueError as e:
            self.module.fail_json(msg=str(e))

    def run(self, plan):
        system, params, request = self.system, self.params, self.request
        want = params['state'] == 'present'
        persist = params['persist']
        if params['backend'] == 'iptables':
            layers, families = iptables_layers(system, request.families, persist, want)
        else:
            layers, families = firewalld_layers(system, persist, want), request.families
        runtime = layers[0] if layers and layers[0].name == RUNTIME else None

        # Read: which rule is in which layer; probed one by one when the request is exact, else listed.
        if request.exact:
            rules = [rule for rule in request.rules(COMMENTS[params['backend']]) if rule.family in families]
            observed = dict((layer.name, [rule for rule in rules if layer.present(rule)]) for layer in layers)
        else:
            observed = dict((layer.name, [rule for rule in layer.owned(families) if request.matches(rule)])
                            for layer in layers)
            found = dict((rule.key, rule) for layer in layers for rule in observed[layer.name])
            rules = [found[key] for key in sorted(found)]

        # Decide: the runtime layer first, so a saved dump reflects the change.
        added, removed, persist_files = [], [], []
        for layer in layers:
            present = observed[layer.name]
            to_add = [rule for rule in rules if want and rule not in present]
            to_remove = [rule for rule in present if not want]
            persist_files.extend(layer.plan(plan, to_add, to_remove))
            added.extend(rule.data(layer=layer.name) for rule in to_add)
            removed.extend(rule.data(layer=layer.name) for rule in to_remove)

        def layer_state(present_in):
            return dict((layer.name, sorted(rule.label for rule in present_in(layer))) for layer in layers)

        before = layer_state(lambda layer: observed[layer.name])
        after = layer_state(lambda layer: rules if want else [])
        return before, after, dict(
            rules=[rule.data(argv=runtime.argv('add', rule) if runtime else None) for rule in rules],
            added=added, removed=removed, persist_files=persist_files)
