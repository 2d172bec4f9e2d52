from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.lvs.dr.plugins.module_utils._arp import (
    Arptables, effective_arp, in_force, listing_to_save, parse_arptables_listing, sysctl_suppresses)

LISTING = """Chain INPUT (policy ACCEPT)
-j DROP -d 198.51.100.100

Chain OUTPUT (policy DROP)
-j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.11

Chain extra (0 references)
"""


def test_listing_parses_into_option_dicts():
    chains, rules = parse_arptables_listing(LISTING)
    assert chains == ['INPUT', 'OUTPUT', 'extra']
    assert rules == [{'chain': 'INPUT', '-j': 'DROP', '-d': '198.51.100.100'},
                     {'chain': 'OUTPUT', '-j': 'mangle', '-s': '198.51.100.100', '--mangle-ip-s': '198.51.100.11'}]


def test_an_inverted_match_is_not_read_as_the_plain_rule():
    dummy, rules = parse_arptables_listing('Chain INPUT (policy ACCEPT)\n-j DROP ! -d 198.51.100.100\n')
    assert rules == [{'chain': 'INPUT', '-j': 'DROP', '!': True, '-d': '198.51.100.100'}]


def test_a_rule_is_in_force_only_when_nothing_ahead_of_it_may_match_first():
    drop = {'chain': 'INPUT', '-j': 'DROP', '-d': '198.51.100.100'}
    cases = [('-j ACCEPT -d 198.51.100.101', True),  # another single address: cannot match
             ('-j DROP -d 198.51.100.101/32', True),
             ('-j ACCEPT -s 198.51.100.50', False),  # one client's requests never reach the DROP
             ('-j ACCEPT -d 198.51.100.0/24', False),
             ('-j ACCEPT ! -d 198.51.100.101', False),
             ('-j ACCEPT', False)]
    for earlier, expected in cases:
        dummy, rules = parse_arptables_listing('Chain INPUT (policy ACCEPT)\n%s\n-j DROP -d 198.51.100.100\n'
                                               '\nChain OUTPUT (policy ACCEPT)\n-j ACCEPT\n' % earlier)
        assert in_force(rules, drop) is expected, earlier
    assert in_force([], drop) is False


class ListingSystem(object):
    """The System seam as Arptables uses it: the binary and one `arptables -L -n` listing."""

    def __init__(self, listing):
        self.listing = listing

    def binary(self, name, required):
        return '/usr/sbin/arptables'

    def query(self, argv):
        return 0, self.listing, ''


def test_a_mangle_to_the_vip_itself_is_no_protection():
    for to, expected in (('198.51.100.100', False), ('198.51.100.10', True)):
        arptables = Arptables(ListingSystem(
            'Chain INPUT (policy ACCEPT)\n-j DROP -d 198.51.100.100\n\nChain OUTPUT (policy ACCEPT)\n'
            '-j mangle -s 198.51.100.100 --mangle-ip-s %s\n' % to))
        assert arptables.drops('198.51.100.100') and arptables.mangles('198.51.100.100') is expected


def test_a_rule_goes_to_the_head_of_its_chain_in_the_listing_order():
    arptables = Arptables(ListingSystem(''))  # no chain headers at all: still a place for the rule
    rules = [{'chain': 'INPUT'}, {'chain': 'OUTPUT'}]
    assert arptables.head(rules, 'OUTPUT') == 0
    arptables.chains = ['INPUT', 'OUTPUT']
    assert arptables.head(rules, 'OUTPUT') == 1 and arptables.head(rules, 'INPUT') == 0
    assert arptables.head([{'chain': 'INPUT'}], 'OUTPUT') == 1


def test_save_format_keeps_numeric_addresses_and_policies():
    # arptables-save of the nft build would print "--mangle-ip-s rs1" here.
    assert listing_to_save(LISTING) == (
        '*filter\n:INPUT ACCEPT\n:OUTPUT DROP\n:extra -\n'
        '-A INPUT -j DROP -d 198.51.100.100\n'
        '-A OUTPUT -j mangle -s 198.51.100.100 --mangle-ip-s 198.51.100.11\n')


def test_effective_values_are_the_max_of_all_and_the_interface():
    sysctls = {'all': {'arp_ignore': 1, 'arp_announce': 0}, 'default': {'arp_ignore': 0, 'arp_announce': 0},
               'eth0': {'arp_ignore': 0, 'arp_announce': 2}, 'lo': {'arp_ignore': 0, 'arp_announce': 0}}
    effective = effective_arp(sysctls)
    assert effective == {'eth0': {'arp_ignore': 1, 'arp_announce': 2}, 'lo': {'arp_ignore': 1, 'arp_announce': 0}}
    assert sysctl_suppresses(effective['eth0']) and not sysctl_suppresses(effective['lo'])


def test_reserved_arp_ignore_values_do_not_suppress():
    # Kernel arp_ignore(): 4-7 are reserved and reply like 0.
    assert not sysctl_suppresses({'arp_ignore': 5, 'arp_announce': 2})
    assert sysctl_suppresses({'arp_ignore': 8, 'arp_announce': 2})


def test_arp_ignore_3_does_not_suppress():
    # Kernel arp_ignore() 3 keeps host-scope addresses quiet only; the VIP on lo is global scope.
    assert not sysctl_suppresses({'arp_ignore': 3, 'arp_announce': 2})


def test_arp_announce_above_2_does_not_suppress():
    # Kernel arp_solicit(): values other than 1 and 2 announce like 0, the VIP included.
    assert not sysctl_suppresses({'arp_ignore': 1, 'arp_announce': 3})
    assert sysctl_suppresses({'arp_ignore': 1, 'arp_announce': 2})
