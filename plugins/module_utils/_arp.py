# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""What the kernel will really do with ARP for a VIP: effective arp_ignore/arp_announce and the
arptables rules in force. lvs_arp_suppress reports it; lvs_vip refuses to add a VIP without it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

CONF_DIR = '/proc/sys/net/ipv4/conf'
# lvs_arp_suppress's files, which lvs_vip reads too (whether the suppression will come back at boot).
SUPPRESS_OWNER = 'lvs.dr.lvs_arp_suppress'
SUPPRESS_MARKER = '# Managed by the lvs.dr Ansible collection (%s); changes here are overwritten.' % SUPPRESS_OWNER
ETC_DIR = '/etc/lvs-dr'
RUN_DIR = '/run/lvs-dr'
OWNED_RULES = 'arptables-owned.json'
# What systemd-sysctl reads, first directory first: of files with one name only the first is read.
SYSCTL_DIRS = ('/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d')
ARP_KEYS = ('arp_ignore', 'arp_announce')
# arp_ignore values that stop replies for an address held on another interface (kernel
# arp_ignore(): 1 and 2 want the target on the receiving interface, 8 never replies). 3 only
# keeps host-scope addresses quiet, on any interface: a VIP on lo has global scope and is
# answered; 4-7 are reserved and reply like 0.
IGNORING = (1, 2, 8)
# arp_announce 2: always announce the best address of the outgoing interface, never the VIP.
# Not "at least 2": arp_solicit() treats 3 and above like 0 and announces the VIP.
ANNOUNCING_SAFELY = 2
# Chain names: arptables 0.0.5 and the nft builds use INPUT/OUTPUT; arptables_jf used IN/OUT.
CHAIN_NAMES = (('INPUT', 'OUTPUT'), ('IN', 'OUT'))


def read_arp_sysctls(system):
    """{name: {'arp_ignore': int, 'arp_announce': int}} for all, default and every interface."""
    values = {}
    for name in system.listdir(CONF_DIR):
        entry = {}
        for key in ARP_KEYS:
            text = system.read('%s/%s/%s' % (CONF_DIR, name, key))
            if text is not None:
                entry[key] = int(text.strip())
        if len(entry) == len(ARP_KEYS):
            values[name] = entry
    return values


def effective_arp(sysctls):
    """The values the kernel applies per interface: max(all, interface) for both keys."""
    every = sysctls.get('all', dict((key, 0) for key in ARP_KEYS))
    return dict((name, dict((key, max(every[key], entry[key])) for key in ARP_KEYS))
                for name, entry in sysctls.items() if name not in ('all', 'default'))


def sysctl_suppresses(effective):
    """True when one interface's effective values keep it from answering/announcing a VIP
    that is held on another interface (lo)."""
    return effective['arp_ignore'] in IGNORING and effective['arp_announce'] == ANNOUNCING_SAFELY


def _strip_host_mask(address):
    return address[:-3] if address.endswith('/32') else address


def _listing(text):
    """(chain, words, is_header) for every line of `arptables -L -n` that says something."""
    chain = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == 'Chain':
            chain = words[1]
        yield chain, words, words[0] == 'Chain'


def parse_rule(chain, words):
    """A rule dict (its options, and '!' for an inverted match) from the words of a listed or saved rule."""
    rule = {'chain': chain}
    for i, word in enumerate(words[:-1]):
        if word == '!':  # an inverted match (`! -d VIP`) is never one of the module's rules
            rule['!'] = True
        elif word.startswith('-'):
            rule[word] = _strip_host_mask(words[i + 1])
    return rule


def parse_arptables_listing(text):
    """Parse `arptables -L -n` into (chain_names, rules); a rule is a dict of its options."""
    chains, rules = [], []
    for chain, words, header in _listing(text):
        if header:
            chains.append(chain)
        else:
            rules.append(parse_rule(chain, words))
    return chains, rules


def save_line(rule):
    """A rule as an arptables-restore line, in the numeric listing's order (target first).

    Written from the rule, never taken from arptables-save: the nft build's arptables-save (and -S)
    resolves the --mangle-ip-s address to a host name (`--mangle-ip-s rs1`), which a restore at boot
    cannot be trusted to resolve."""
    words = ['-A', rule['chain'], '-j', rule['-j']]
    for key in ('-d', '-s', '--mangle-ip-s'):
        if key in rule:
            words.extend([key, rule[key]])
    return ' '.join(words)


def saved_rule(line):
    """The rule of an `-A CHAIN ...` line of a saved table, else None."""
    words = line.split()
    if len(words) < 2 or words[0] != '-A':
        return None
    return parse_rule(words[1], words[2:])


def edit_saved(text, ours, wanted, chains):
    """A saved table (arptables-restore format) in which only the module's lines changed.

    text: the file as it is (None: no file yet; one is started with the chains' ACCEPT policies).
    ours: the rules whose lines in text are the module's; the first line of each goes, every other line
    stays as it is (comments, policies, the administrator's and other tools' rules, loaded or not).
    wanted: the module's rules, put at the head of their chains in this order, as they are live."""
    if text is None:
        text = '*filter\n' + ''.join(':%s ACCEPT\n' % chain for chain in chains)
    mine, kept = list(ours), []
    for line in text.splitlines():
        rule = saved_rule(line)
        if rule is not None and rule in mine:
            mine.remove(rule)
        else:
            kept.append(line)
    order = []
    for rule in wanted:
        if rule['chain'] not in order:
            order.append(rule['chain'])
    for chain in order:
        # Before the chain's first rule; for a chain without rules before COMMIT (nft builds), else at the end.
        at = next((i for i, line in enumerate(kept) if (saved_rule(line) or {}).get('chain') == chain),
                  next((i for i, line in enumerate(kept) if line.strip() == 'COMMIT'), len(kept)))
        kept[at:at] = [save_line(rule) for rule in wanted if rule['chain'] == chain]
    return ''.join(line + '\n' for line in kept)


def _cannot_match(earlier, rule):
    """True when `earlier` cannot decide an ARP packet that `rule` matches: it names another single
    address in the same field (-d in INPUT, -s in OUTPUT). Anything else might (an ACCEPT for a
    client, a subnet, an inverted match), and a rule behind it may never be reached."""
    key = '-d' if '-d' in rule else '-s'
    address = earlier.get(key)
    return address is not None and '/' not in address and address != rule[key] and not earlier.get('!')


def in_force(rules, rule):
    """True when `rule` is in the table and every rule before it in its chain cannot match first."""
    for earlier in rules:
        if earlier == rule:
            return True
        if earlier.get('chain') == rule['chain'] and not _cannot_match(earlier, rule):
            return False
    return False


class Arptables(object):
    """The arptables filter table as the installed binary names and shows it."""

    def __init__(self, system, required=True):
        self.system = system
        self.path = system.binary('arptables', required=required)
        self.input_chain, self.output_chain = CHAIN_NAMES[0]
        self.chains, self.rules = [], []
        if self.path is not None:
            self.refresh()

    @property
    def present(self):
        return self.path is not None

    def refresh(self):
        dummy, self.listing, dummy2 = self.system.query([self.path, '-L', '-n'])
        self.chains, self.rules = parse_arptables_listing(self.listing)
        for names in CHAIN_NAMES:
            if names[0] in self.chains:
                self.input_chain, self.output_chain = names
                break

    def head(self, rules, chain):
        """The index in rules (in the listing's order) of a rule inserted at the head of chain."""
        def rank(name):
            return self.chains.index(name) if name in self.chains else len(self.chains)
        return next((i for i, r in enumerate(rules) if rank(r['chain']) >= rank(chain)), len(rules))

    def drop_rule(self, vip):
        return {'chain': self.input_chain, '-d': vip, '-j': 'DROP'}

    def mangle_rule(self, vip, real_ip):
        return {'chain': self.output_chain, '-s': vip, '-j': 'mangle', '--mangle-ip-s': real_ip}

    def drops(self, vip, rules=None):
        """The DROP rule for vip, with no interface restriction, reached before any other verdict.
        rules: the table to judge (default: the live one), e.g. the table as a plan will leave it."""
        return in_force(self.rules if rules is None else rules, self.drop_rule(vip))

    def mangles(self, vip, rules=None):
        """A mangle rule for vip that is reached first and rewrites the sender to another address."""
        rules = self.rules if rules is None else rules
        return any(r.get('chain') == self.output_chain and r.get('-s') == vip and r.get('-j') == 'mangle'
                   and r.get('--mangle-ip-s') not in (None, vip) and len(r) == 4 and in_force(rules, r)
                   for r in rules)

    def protects(self, vip, rules=None):
        """DROP and mangle for vip both in force: ARP for it suppressed on every interface."""
        return self.present and self.drops(vip, rules) and self.mangles(vip, rules)

    @staticmethod
    def argv(rule):
        """arptables options for a rule dict, in a stable order."""
        args = []
        for key in ('-d', '-s', '-j', '--mangle-ip-s'):
            if key in rule:
                args.extend([key, rule[key]])
        return args


def facing_interfaces(effective, interfaces=None):
    """The interfaces facing the segment: the ones named, or every interface but lo."""
    return interfaces if interfaces is not None else sorted(name for name in effective if name != 'lo')


def unprotected(effective, vip_interface, by_arptables, interfaces=None):
    """Interfaces on which ARP for a VIP is NOT suppressed, given the effective sysctl values and whether
    arptables rules protect it (by_arptables). The one rule of the VIP gate (lvs_vip) and of the
    suppression engines' refusals, so both judge a host alike.

    vip_interface: where the VIP sits. sysctl protection only works for an address held on
    another interface; on the VIP's own interface only arptables (DROP + mangle) protects.
    interfaces: the interfaces facing the segment; default every interface but lo."""
    missing = []
    for name in facing_interfaces(effective, interfaces):
        by_sysctl = name in effective and name != vip_interface and sysctl_suppresses(effective[name])
        if not (by_sysctl or by_arptables):
            missing.append(name)
    return missing


def unprotected_interfaces(system, vip, vip_interface, interfaces=None, arptables=None):
    """Interfaces on which ARP for an IPv4 vip is NOT suppressed on the host as it is now (see unprotected)."""
    effective = effective_arp(read_arp_sysctls(system))
    if arptables is None:
        arptables = Arptables(system, required=False)
    return unprotected(effective, vip_interface, arptables.protects(vip), interfaces)
