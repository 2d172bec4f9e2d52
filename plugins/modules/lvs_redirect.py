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
      - V(iptables) runs C(iptables) / C(ip6tables) directly. With O(persist=true) it saves the
        whole C(iptables-save) / C(ip6tables-save) dump to the distribution's own rules file
        (see O(persist)).
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
      - Required with O(state=present). With O(state=absent) it may be omitted to remove the
        module's rules for every VIP, including VIPs no longer in the inventory.
    type: list
    elements: str
  ports:
    description:
      - Destination ports of the virtual service, each 1 to 65535.
      - Required with O(state=present). With O(state=absent) it may be omitted to remove the
        module's rules for every port.
    type: list
    elements: int
  protocols:
    description:
      - Transport protocols to redirect.
      - Default V([tcp]) with O(state=present). With O(state=absent) it may be omitted to remove
        the module's rules for every protocol.
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
        other distribution the module fails unless O(persist=false).
      - O(backend=firewalld) uses C(firewall-cmd --permanent --direct), which firewalld keeps in
        C(/etc/firewalld/direct.xml).
    type: bool
    default: true
requirements:
  - C(iptables) for IPv4 VIPs and C(ip6tables) for IPv6 VIPs, plus C(iptables-save) /
    C(iptables-restore) (C(ip6tables-save) / C(ip6tables-restore)) when O(persist=true), with
    O(backend=iptables).
  - C(firewall-cmd) and a running firewalld with O(backend=firewalld); C(firewall-offline-cmd)
    (shipped with firewalld) for O(state=absent) with O(persist=true) while firewalld is stopped.
notes:
  - The module installs no packages and enables no services. For O(backend=iptables) with
    O(persist=true), install and enable the package that restores the rules file at boot
    (C(iptables-persistent) on Debian/Ubuntu, C(iptables-services) on RHEL) beforehand, in
    the role or play that uses this module.
  - The iptables rules file is the whole C(iptables-save) dump of the running firewall, validated
    with C(iptables-restore --test) and replaced atomically; it therefore also saves rules other
    tools added at runtime, and replaces whatever the file held before. The rules of
    O(backend=firewalld) are left out of it, since firewalld restores them itself, and a copy in the file
    would outlive their removal from firewalld. It is rewritten only
    when it disagrees with the requested rule set (a requested rule is missing from it, or a
    rule that O(state=absent) removes is still in it).
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

import ipaddress
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.lvs.dr.plugins.module_utils._addresses import check_port, parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._plan import Plan
from ansible_collections.lvs.dr.plugins.module_utils._system import System

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
        rc, out, err = self.system.run(argv, check=False)
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
    """The distribution's iptables rules file, one per family, rewritten from the live dump."""

    name = PERSISTENT

    def __init__(self, system, files, mode):
        self.system = system
        self.files = files
        self.mode = mode
        self._lines = {}

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
        for family in families:
            path = self.files[family]
            plan.add('save the %s rules to %s' % (family, path), self._save, family)
        return [self.files[family] for family in families]

    def _save(self, family):
        dummy, save, restore = IPTABLES_TOOLS[family]
        dummy, dump, dummy2 = self.system.run([self.system.binary(save)])
        # firewalld restores its direct rules itself; a copy here would outlive their removal.
        dump = ''.join(line for line in dump.splitlines(True)
                       if not (line.startswith('-A PREROUTING ')
                               and parse_rule(family, split_line(line)[2:], COMMENTS['firewalld'])))
        # A dump the restore tool rejects would leave the host without rules at the next boot.
        self.system.run([self.system.binary(restore), '--test'], data=dump)
        self.system.write(self.files[family], dump, mode=self.mode)


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
            dummy, out, dummy2 = system.run([tools[family], '-t', 'nat', '-S', 'PREROUTING'])
            rules.extend(parse_rule(family, split_line(line)[2:], COMMENTS['iptables']) for line in out.splitlines()
                         if line.startswith('-A PREROUTING '))
        return [rule for rule in rules if rule]

    layers = [CommandLayer(system, RUNTIME, command('-C'), command('-A'), command('-D'), listing)]
    if persist:
        for marker, files, mode in IPTABLES_PERSIST:
            if system.exists(marker):
                break
        else:
            system.module.fail_json(
                msg='persist=true, but this distribution keeps its saved iptables rules in no place '
                    'the module knows (neither %s exists); set persist=false and save the rules '
                    'another way.' % ' nor '.join(marker for marker, dummy, dummy2 in IPTABLES_PERSIST))
        for family in families:
            # Fail on a missing save/restore tool now, before anything changed.
            for tool in IPTABLES_TOOLS[family][1:]:
                system.binary(tool)
        layers.append(SavedRulesLayer(system, files, mode))
    return layers, families


def firewalld_layers(system, persist, present):
    """The runtime and permanent layers. For state=absent: none without firewall-cmd (firewalld
    was never installed); only the permanent one, through firewall-offline-cmd, while firewalld is
    stopped (its runtime rules died with it)."""
    firewall_cmd = system.binary('firewall-cmd', required=present)
    if firewall_cmd is None:
        return []
    rc, out, err = system.run([firewall_cmd, '--state'], check=False)
    running = rc == 0
    if not running and present:
        system.module.fail_json(
            msg='firewalld is not running (firewall-cmd --state: %s); start it (systemctl start '
                'firewalld) or choose backend: iptables.' % ((out or err).strip() or 'rc=%d' % rc))

    def layer(name, base, files):
        def command(action):
            return lambda rule: base + ['--direct', action, rule.family, 'nat', 'PREROUTING', '0'] + rule.spec

        def listing(families):
            dummy, out, dummy2 = system.run(base + ['--direct', '--get-all-rules'])
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

    def __init__(self, params):
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
                and (self.protocols is None or rule.protocol in self.protocols))


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
    system = System(module)
    want = module.params['state'] == 'present'
    persist = module.params['persist']

    try:
        request = Request(module.params)
    except ValueError as e:
        module.fail_json(msg=str(e))

    if module.params['backend'] == 'iptables':
        layers, families = iptables_layers(system, request.families, persist, want)
    else:
        layers, families = firewalld_layers(system, persist, want), request.families
    runtime = layers[0] if layers and layers[0].name == RUNTIME else None

    # Read: which rule is in which layer; probed one by one when the request is exact, else listed.
    if request.exact:
        rules = [rule for rule in request.rules(COMMENTS[module.params['backend']]) if rule.family in families]
        observed = dict((layer.name, [rule for rule in rules if layer.present(rule)]) for layer in layers)
    else:
        observed = dict((layer.name, [rule for rule in layer.owned(families) if request.matches(rule)])
                        for layer in layers)
        found = dict((rule.key, rule) for layer in layers for rule in observed[layer.name])
        rules = [found[key] for key in sorted(found)]

    # Decide: the runtime layer first, so a saved dump reflects the change.
    plan = Plan(module)
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
    plan.exit(before, after,
              rules=[rule.data(argv=runtime.argv('add', rule) if runtime else None) for rule in rules],
              added=added, removed=removed, persist_files=persist_files)


if __name__ == '__main__':
    main()
