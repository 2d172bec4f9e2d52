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
import socket

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.lvs.dr.plugins.module_utils._inputs import check_not_empty, check_port, parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._plan import Engine, Refusal
from ansible_collections.lvs.dr.plugins.module_utils._system import read_owned

# Each backend marks its rules with its own comment: firewalld's direct rules end up as iptables
# rules in the kernel, identical to the iptables backend's but for this mark.
COMMENTS = {'iptables': 'lvs.dr redirect iptables', 'firewalld': 'lvs.dr redirect firewalld'}
FAMILIES = {4: 'ipv4', 6: 'ipv6'}
RUNTIME = 'runtime'
PERSISTENT = 'persistent'

# Where each distribution's boot-time restore reads the saved rules, told apart by its release
# file; the modes are those the distribution's own save tools create; the services that restore the
# files at boot, each with the targets whose .wants links enable it.
IPTABLES_PERSIST = (
    ('/etc/debian_version', {'ipv4': '/etc/iptables/rules.v4', 'ipv6': '/etc/iptables/rules.v6'}, 0o640,
     {'ipv4': 'netfilter-persistent', 'ipv6': 'netfilter-persistent'}),
    ('/etc/redhat-release', {'ipv4': '/etc/sysconfig/iptables', 'ipv6': '/etc/sysconfig/ip6tables'}, 0o600,
     {'ipv4': 'iptables', 'ipv6': 'ip6tables'}),
)
WANTS = ('/etc/systemd/system/multi-user.target.wants/%s.service', '/etc/systemd/system/basic.target.wants/%s.service')
FIREWALLD_DIRECT_FILE = '/etc/firewalld/direct.xml'
FIREWALLD_ENABLED = '/etc/systemd/system/multi-user.target.wants/firewalld.service'
# The rules files the iptables backend created (absent before its first save), one path a line.
CREATED_RECORD = '/etc/lvs-dr/iptables-created'
IPTABLES_TOOLS = {
    'ipv4': ('iptables', 'iptables-restore'),
    'ipv6': ('ip6tables', 'ip6tables-restore'),
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


def _first_line(text):
    lines = (text or '').strip().splitlines()
    return lines[0] if lines else ''


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
            raise Refusal('Cannot probe for the rule %s: %s: %s' % (rule.label, ' '.join(argv), (err or out).strip()),
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
    """The distribution's iptables rules file, one per family. Only the module's own lines change: they
    are added to, or removed from, the file's *nat PREROUTING rules, and every other line stays byte for
    byte (rules an administrator saved without loading them, other tables, comments); the live ruleset
    is never dumped into it, so other tools' transient rules (container engines, fail2ban) stay transient.

    A file the module created (listed in CREATED_RECORD) is removed again, rather than rewritten, once
    it restores nothing but what the module put there: removal leaves the host as it found it."""

    name = PERSISTENT

    def __init__(self, system, files, mode):
        self.system = system
        self.files = files
        self.mode = mode
        self._texts = {}
        known = set(files.values())
        record = read_owned(system, CREATED_RECORD, lambda text: set(text.split()) <= known, 'lvs_redirect')
        self._created = set((record or '').split())

    def _text(self, family):
        if family not in self._texts:
            self._texts[family] = self.system.read(self.files[family])
        return self._texts[family]

    def _keys(self, family):
        return set(rule.key for rule in _saved_rules(family, self._text(family) or ''))

    def present(self, rule):
        return rule.key in self._keys(rule.family)

    def owned(self, families):
        found = {}
        for family in families:
            for rule in _saved_rules(family, self._text(family) or ''):
                found[rule.key] = rule
        return [found[key] for key in sorted(found)]

    def plan(self, plan, to_add, to_remove):
        families = sorted(set(rule.family for rule in to_add + to_remove))
        created, steps = set(self._created), []
        for family in families:
            path, text = self.files[family], self._text(family)
            adding = [rule for rule in to_add if rule.family == family]
            new = edit_saved(text, family, adding, [rule for rule in to_remove if rule.family == family])
            if text is None:
                created.add(path)
            if path in created and text is not None and not adding and restores_nothing(new):
                created.discard(path)
                steps.append(('remove %s (created by lvs_redirect, no rule left to save)' % path,
                              self.system.remove, (path,)))
                continue
            # Checked now, before anything changes: a file the restore tool rejects would leave the host
            # without any of its saved rules at the next boot.
            self._validate(family, path, new)
            # A rewritten file keeps its mode (0600 on RHEL, 0640 on Debian, or the administrator's).
            mode = self.mode if text is None else file_mode(self.system, path, self.mode)
            steps.append(('save the %s rules to %s' % (family, path), self.system.write, (path, new, mode)))
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

    def _validate(self, family, path, text):
        restore = self.system.binary(IPTABLES_TOOLS[family][1])
        argv = [restore, '--test']
        rc, out, err = self.system.run(argv, check=False, data=text)
        if rc != 0:
            raise Refusal('%s would not load at boot with the REDIRECT rules changed in it: %s --test rejects '
                          'it (%s), and a file that fails to load restores none of its rules. Nothing was changed. '
                          'Repair the file (its other lines are kept as they are; check it with %s --test < %s) '
                          'and retry, or set persist: false.' % (path, restore, _first_line(err or out), restore, path),
                          cmd=argv, rc=rc, stdout=out, stderr=err)

    def _record(self, created):
        if created:
            self.system.write(CREATED_RECORD, ''.join('%s\n' % path for path in sorted(created)))
        else:
            self.system.remove(CREATED_RECORD)


# What the module writes into a rules file that lacks a nat table: iptables-save's form of it, after a
# comment that marks the block as the module's, so that the module takes it out again with its last rule.
NAT_MARK = '# lvs.dr lvs_redirect: its REDIRECT rules (this block goes with the last of them)\n'
NAT_HEAD = [NAT_MARK, '*nat\n', ':PREROUTING ACCEPT [0:0]\n']
NAT_END = 'COMMIT\n'
BUILTIN_CHAINS = ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING')


def _tables(lines):
    """(line, table) for each line of an iptables-save file: the table whose block the line is in, or None."""
    table = None
    for line in lines:
        if line.startswith('*'):
            table = line.strip()[1:]
        yield line, table
        if line.strip() == 'COMMIT':
            table = None


def _own_rule(family, line):
    """The module's Rule a line of the *nat table holds, else None."""
    if not line.startswith('-A PREROUTING '):
        return None
    return parse_rule(family, split_line(line)[2:], COMMENTS['iptables'])


def _saved_rules(family, text):
    return [rule for rule in (_own_rule(family, line) for line, table in _tables(text.splitlines(True))
                              if table == 'nat') if rule]


def edit_saved(text, family, add, remove):
    """The text of a rules file with the rules `add` appended to its *nat PREROUTING rules (a marked *nat
    block is added at the end when it has none) and the module's lines of the rules `remove` taken out, with
    the marked block once it is empty; every other line is left as it was, byte for byte."""
    dropped = set(rule.key for rule in remove)
    lines = [line for line, table in _tables((text or '').splitlines(True))
             if not (table == 'nat' and getattr(_own_rule(family, line), 'key', None) in dropped)]
    empty = NAT_HEAD + [NAT_END]
    for at in reversed([at for at, line in enumerate(lines) if line == NAT_MARK]):
        if lines[at:at + len(empty)] == empty:
            del lines[at:at + len(empty)]
    if not add:
        return ''.join(lines)
    added = ['%s\n' % rule.saved_line for rule in add]
    tables = [table for dummy, table in _tables(lines)]
    if 'nat' not in tables:
        at, added = len(lines), NAT_HEAD + added + [NAT_END]
    else:
        start = tables.index('nat')
        block = list(range(start, len(lines)))
        block = block[:next((i for i, index in enumerate(block) if tables[index] != 'nat'), len(block))]
        rules = [index for index in block if lines[index].startswith('-A PREROUTING ')]
        ends = [index for index in block if lines[index].strip() == 'COMMIT']
        # After the chain's last rule, so the new rules come last as iptables -A puts them; else before COMMIT.
        at = rules[-1] + 1 if rules else (ends[0] if ends else block[-1] + 1)
    if at and not lines[at - 1].endswith('\n'):
        lines[at - 1] += '\n'
    return ''.join(lines[:at] + added + lines[at:])


def restores_nothing(text):
    """Whether an iptables-save file holds nothing a boot would restore: table headers, COMMIT, built-in
    chains with an ACCEPT policy, blank lines and iptables-save's own comments only."""
    for line in text.splitlines():
        words = line.split()
        if not words or line.startswith('*') or words == ['COMMIT']:
            continue
        if line.startswith(('# Generated by ', '# Completed on ')):
            continue
        if line.startswith(':') and words[0][1:] in BUILTIN_CHAINS and words[1:2] == ['ACCEPT']:
            continue
        return False
    return True


def file_mode(system, path, default):
    """The permission bits of an existing file, default when it has none."""
    found = system.mode(path)
    return default if found is None else found


def iptables_layers(system, families, persist, present, warn):
    """The layers and the families they cover. For state=absent a family whose tool is missing is
    left out: nothing of the module's can be in force there, and its saved file cannot be redone.
    warn: the engine's, for what a reboot would undo."""
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
    known = [(files, mode, units) for marker, files, mode, units in IPTABLES_PERSIST if system.exists(marker)]
    if persist and not known and present:
        raise Refusal('persist=true, but this distribution keeps its saved iptables rules in no place '
                      'the module knows (neither %s exists); set persist=false and save the rules '
                      'another way.' % ' nor '.join(entry[0] for entry in IPTABLES_PERSIST))
    # state=absent where no saved-rules file is known: the module cannot have saved a rule anywhere.
    if persist and known:
        files, mode, units = known[0]
        for family in families:
            # Refuse a missing restore tool (it checks the file before it is written) now, before anything changed.
            system.binary(IPTABLES_TOOLS[family][1])
        layers.append(SavedRulesLayer(system, files, mode))
        if present:
            for service in sorted(set(units[family] for family in families)):
                if not any(system.exists(wants % service) for wants in WANTS):
                    warn('persist: true saves the REDIRECT rules to %s, but %s.service is not enabled: nothing '
                         'restores them at boot, so after a reboot the host would drop the VIPs\' traffic while the '
                         'directors\' health checks on its real IP still pass. Enable it (systemctl enable %s).'
                         % (' and '.join(files[family] for family in families if units[family] == service),
                            service, service))
            if system.exists(FIREWALLD_ENABLED):
                warn('firewalld is enabled: when it starts at boot it resets the iptables rules, so the '
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
        raise Refusal('firewalld is not running (firewall-cmd --state: %s); start it (systemctl start '
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


# Why each list must not be empty, by state: an empty list is what a variable that failed to load gives.
EMPTY = {
    ('vip', 'present'): 'with state present no REDIRECT rule would be added and the run would succeed while the '
                        'host accepts none of the VIPs\' traffic (a host whose inventory failed to load drops out of '
                        'service while the directors\' health checks on its real IP still pass). Name the VIPs, or '
                        'use state: absent to remove the module\'s rules.',
    ('ports', 'present'): 'with state present no REDIRECT rule would be added and the run would succeed while the '
                          'host accepts none of the VIPs\' traffic. Name the service ports, or use state: absent to '
                          'remove the module\'s rules.',
    ('protocols', 'present'): 'with state present no REDIRECT rule would be added. Omit protocols for tcp, or name '
                              'tcp and/or udp.',
}
ABSENT_EMPTY = ('with state absent it would match no rule and the run would succeed with the rules still in force. '
                'Omit %s to remove the module\'s rules whatever their %s, or name the values.')
PROTOCOLS = ('tcp', 'udp')


def _check_address_text(iface):
    """Refuse a VIP the tools would print otherwise than Python: the rules are recognised by their text in
    iptables -S, firewall-cmd --get-all-rules and the rules file, so such a VIP's rules could never be found and
    removed again (IPv4-compatible IPv6 addresses like ::192.0.2.1, which inet_ntop prints dotted)."""
    if iface.version != 6:
        return
    printed = socket.inet_ntop(socket.AF_INET6, iface.ip.packed)
    if printed != str(iface.ip):
        raise ValueError('%s: ip6tables would print this address as %s, so the module could not recognise its own '
                         'rule for it (a deprecated IPv4-compatible address, ::/96). Give the VIP as the IPv4 address '
                         'or a global IPv6 address.' % (iface.ip, printed))


class Request(object):
    """The validated request: the exact rule set, or (state=absent with vip, ports or protocols
    omitted) a filter over the rules the module finds; ValueError names the bad input."""

    def __init__(self, params, keep=()):
        self.keep = frozenset(keep)
        state = params['state']
        for option, what in (('vip', 'VIP'), ('ports', 'port'), ('protocols', 'protocol')):
            check_not_empty(option, params[option], EMPTY.get((option, state), ABSENT_EMPTY % (option, what)))
        if state == 'present' and params['protocols'] is None:
            params = dict(params, protocols=['tcp'])
        self.vips = parse_vips(params['vip']) if params['vip'] is not None else None
        for iface in self.vips or []:
            if iface.network.prefixlen != iface.max_prefixlen:
                raise ValueError('%s: a REDIRECT rule matches a single destination address; give the VIP '
                                 'without a prefix or as /%d.' % (iface, iface.max_prefixlen))
            _check_address_text(iface)
        for port in params['ports'] or []:
            # JSON true is an int to the argument spec: it would pass as port 1 and reach iptables as "True".
            if isinstance(port, bool) or not isinstance(port, int):
                raise ValueError('ports: %r is not a port number; give ports as numbers from 1 to 65535.' % (port,))
        for protocol in params['protocols'] or []:
            if protocol not in PROTOCOLS:
                raise ValueError('protocols: %r is not one of %s.' % (protocol, ', '.join(PROTOCOLS)))
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


class RedirectEngine(Engine):
    """lvs_redirect's work on one host: validate(), then run(plan) -> (before, after, result).

    keep: Rule keys a state=absent request without vip, ports or protocols leaves alone (the rules
    lvs_realserver's earlier steps want)."""

    def __init__(self, system, params, check_mode=False, keep=()):
        super(RedirectEngine, self).__init__(system, params, check_mode)
        self.keep = keep
        self.request = None

    def validate(self):
        try:
            self.request = Request(self.params, self.keep)
        except ValueError as e:
            raise Refusal(str(e))

    def run(self, plan):
        system, params, request = self.system, self.params, self.request
        want = params['state'] == 'present'
        persist = params['persist']
        if params['backend'] == 'iptables':
            layers, families = iptables_layers(system, request.families, persist, want, self.warn)
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

        # Decide: the runtime layer first, then the one that brings it back at boot.
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
