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
  - Every rule carries the comment C(lvs.dr redirect). With O(state=absent) the module removes
    only rules that carry this comment and match the requested set; other rules, even for the
    same VIP and port, are never touched.
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
        needed. firewalld must be running.
    type: str
    required: true
    choices: [iptables, firewalld]
  vip:
    description:
      - Virtual IP addresses, IPv4 or IPv6, mixed as needed.
      - Host addresses only, because a REDIRECT rule matches one destination address. A prefix,
        if given, must be C(/32) for IPv4 and C(/128) for IPv6.
    type: list
    elements: str
    required: true
  ports:
    description:
      - Destination ports of the virtual service, each 1 to 65535.
    type: list
    elements: int
    required: true
  protocols:
    description:
      - Transport protocols to redirect.
    type: list
    elements: str
    choices: [tcp, udp]
    default: [tcp]
  state:
    description:
      - V(present) adds the missing rules, V(absent) removes the module's own rules of the
        requested set.
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
  - C(firewall-cmd) and a running firewalld with O(backend=firewalld).
notes:
  - The module installs no packages and enables no services. For O(backend=iptables) with
    O(persist=true), install and enable the package that restores the rules file at boot
    (C(iptables-persistent) on Debian/Ubuntu, C(iptables-services) on RHEL) beforehand, in
    the role or play that uses this module.
  - The iptables rules file is the whole C(iptables-save) dump of the running firewall, validated
    with C(iptables-restore --test) and replaced atomically; it therefore also saves rules other
    tools added at runtime, and replaces whatever the file held before. It is rewritten only
    when it disagrees with the requested rule set (a requested rule is missing from it, or a
    rule that O(state=absent) removes is still in it).
  - firewalld flushes every iptables table when it starts and when it stops (seen with firewalld
    1.3 on Debian 12, nftables backend), which drops the rules of O(backend=iptables) from the
    running firewall; use one backend per host, and O(backend=firewalld) wherever firewalld runs.
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
'''

RETURN = r'''
rules:
  description:
    - The requested rule set, in force after O(state=present) and gone after O(state=absent).
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
      description: The command that adds the rule to the running firewall.
      type: list
      elements: str
      sample: ['/usr/sbin/iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', '198.51.100.100/32', '-p', 'tcp',
               '-m', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'lvs.dr redirect', '-j', 'REDIRECT']
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

from ansible_collections.lvs.dr.plugins.module_utils._addresses import check_port, parse_vips
from ansible_collections.lvs.dr.plugins.module_utils._plan import Plan
from ansible_collections.lvs.dr.plugins.module_utils._system import System

COMMENT = 'lvs.dr redirect'
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

    def __init__(self, iface, port, protocol):
        self.family = FAMILIES[iface.version]
        self.vip = str(iface.ip)
        self.prefix = iface.max_prefixlen
        self.port = port
        self.protocol = protocol

    @property
    def spec(self):
        """The match and target, in the order iptables -S / iptables-save print them."""
        return ['-d', '%s/%d' % (self.vip, self.prefix), '-p', self.protocol, '-m', self.protocol,
                '--dport', str(self.port), '-m', 'comment', '--comment', COMMENT, '-j', 'REDIRECT']

    @property
    def saved_line(self):
        """The rule as iptables-save writes it (the comment is quoted)."""
        spec = ['"%s"' % arg if arg == COMMENT else arg for arg in self.spec]
        return ' '.join(['-A', 'PREROUTING'] + spec)

    @property
    def label(self):
        return '%s %s %s port %d' % (self.family, self.protocol, self.vip, self.port)

    def data(self, **extra):
        result = dict(family=self.family, vip=self.vip, port=self.port, protocol=self.protocol)
        result.update(extra)
        return result


class Layer(object):
    """Where a rule can live (runtime or persistent): observed per rule, changed by steps."""

    name = None

    def present(self, rule):
        raise NotImplementedError

    def plan(self, plan, to_add, to_remove):
        """Add the steps that add to_add and remove to_remove; return the files they write."""
        raise NotImplementedError


class CommandLayer(Layer):
    """A layer probed, added to and removed from one rule at a time by a command.

    files: what the tool itself writes when this layer changes (reported, not written here).
    """

    def __init__(self, system, name, probe, add, remove, files=()):
        self.system = system
        self.name = name
        self.files = list(files)
        self._argv = dict(probe=probe, add=add, remove=remove)

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

    def plan(self, plan, to_add, to_remove):
        families = sorted(set(rule.family for rule in to_add + to_remove))
        for family in families:
            path = self.files[family]
            plan.add('save the %s rules to %s' % (family, path), self._save, family)
        return [self.files[family] for family in families]

    def _save(self, family):
        dummy, save, restore = IPTABLES_TOOLS[family]
        dummy, dump, dummy2 = self.system.run([self.system.binary(save)])
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


def iptables_layers(system, families, persist):
    tools = dict((family, system.binary(IPTABLES_TOOLS[family][0])) for family in families)

    def command(flag):
        return lambda rule: [tools[rule.family], '-t', 'nat', flag, 'PREROUTING'] + rule.spec

    layers = [CommandLayer(system, RUNTIME, command('-C'), command('-A'), command('-D'))]
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
    return layers


def firewalld_layers(system, persist):
    firewall_cmd = system.binary('firewall-cmd')
    rc, out, err = system.run([firewall_cmd, '--state'], check=False)
    if rc != 0:
        system.module.fail_json(
            msg='firewalld is not running (firewall-cmd --state: %s); start it (systemctl start '
                'firewalld) or choose backend: iptables.' % ((out or err).strip() or 'rc=%d' % rc))

    def command(options, action):
        return lambda rule: ([firewall_cmd] + options + ['--direct', action, rule.family, 'nat', 'PREROUTING', '0']
                             + rule.spec)

    # Runtime and permanent configuration each get their own call, so no --reload is needed.
    layers = [(RUNTIME, [], [])] + ([(PERSISTENT, ['--permanent'], [FIREWALLD_DIRECT_FILE])] if persist else [])
    return [CommandLayer(system, name, command(options, '--query-rule'), command(options, '--add-rule'),
                         command(options, '--remove-rule'), files)
            for name, options, files in layers]


def requested_rules(module):
    """Validate vip/ports and build the rule set; ValueError names the bad input."""
    params = module.params
    for option in ('vip', 'ports', 'protocols'):
        if not params[option]:
            raise ValueError('%s must name at least one value.' % option)
    vips = parse_vips(params['vip'])
    for iface in vips:
        if iface.network.prefixlen != iface.max_prefixlen:
            raise ValueError('%s: a REDIRECT rule matches a single destination address; give the VIP '
                             'without a prefix or as /%d.' % (iface, iface.max_prefixlen))
    ports = sorted(set(check_port(port) for port in params['ports']))
    protocols = sorted(set(params['protocols']))
    return [Rule(iface, port, protocol) for iface in vips for port in ports for protocol in protocols]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type='str', required=True, choices=['iptables', 'firewalld']),
            vip=dict(type='list', elements='str', required=True),
            ports=dict(type='list', elements='int', required=True),
            protocols=dict(type='list', elements='str', choices=['tcp', 'udp'], default=['tcp']),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persist=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    system = System(module)
    want = module.params['state'] == 'present'
    persist = module.params['persist']

    try:
        rules = requested_rules(module)
    except ValueError as e:
        module.fail_json(msg=str(e))

    if module.params['backend'] == 'iptables':
        families = sorted(set(rule.family for rule in rules))
        layers = iptables_layers(system, families, persist)
    else:
        layers = firewalld_layers(system, persist)
    runtime = layers[0]

    # Read: which requested rule is in which layer.
    observed = dict((layer.name, [rule for rule in rules if layer.present(rule)]) for layer in layers)

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
              rules=[rule.data(argv=runtime.argv('add', rule)) for rule in rules],
              added=added, removed=removed, persist_files=persist_files)


if __name__ == '__main__':
    main()
