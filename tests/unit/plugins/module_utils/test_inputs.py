# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The input validators, example by example and as properties: no value they accept is read differently by
the command line, file or unit it ends up in (ip -batch lines, sysctl keys, systemd unit lines)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import shlex

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.lvs.dr.plugins.module_utils import _inputs
from ansible_collections.lvs.dr.plugins.module_utils._suppress import parse_sysctl_key, sysctl_key
from ansible_collections.lvs.dr.plugins.module_utils._vip import parse_record, record_line, unit_escape

SETTINGS = settings(max_examples=400, deadline=None)


@pytest.mark.parametrize('text, phrase', [
    ('255.255.255.255', 'limited broadcast'),
    ('0.0.0.0', 'unspecified'),
    ('0.1.2.3', 'unspecified'),
    ('240.0.0.1', 'reserved'),
    ('224.0.0.18', 'multicast'),
    ('127.0.0.2', 'loopback'),
    ('169.254.1.1', 'link-local'),
    ('::', 'unspecified'),
    ('::1', 'loopback'),
    ('ff02::1', 'multicast'),
    ('fe80::1', 'link-local'),
    ('::ffff:198.51.100.1', 'IPv4-mapped'),
    ('2001:db8::1%eth0', 'scoped IPv6'),
    ('fe80::1%eth0', 'scoped IPv6'),
    ('198.51.100.0/24', 'network address'),
    ('198.51.100.255/24', 'broadcast address'),
    ('198.51.100.1/24', None),
    ('198.51.100.0/31', None),
    ('2001:db8::/64', None),
])
def test_vip_examples(text, phrase):
    if phrase is None:
        _inputs.parse_vip(text)
        return
    with pytest.raises(ValueError) as e:
        _inputs.parse_vip(text)
    assert phrase in str(e.value) and repr(text) in str(e.value)


def test_unicast_refuses_like_a_vip():
    assert str(_inputs.parse_unicast(' 198.51.100.11 ', 'real_ip')) == '198.51.100.11'
    for text in ('198.51.100.1/24', '255.255.255.255', 'fe80::1', 'nope'):
        with pytest.raises(ValueError) as e:
            _inputs.parse_unicast(text, 'real_ip')
        assert str(e.value).startswith('real_ip %r ' % text)


@pytest.mark.parametrize('name, ok', [
    ('eth0', True), ('eth0.100', True), ('br-lan', True), ('x' * 15, True), ('x' * 16, False), ('', False),
    ('.', False), ('..', False), ('a/b', False), ('eth0:1', False), ('eth 0', False), ('eth0\n', False),
    ('eth0\t', False), ('\x7f', False), (u'\u00e9' * 8, False),
])
def test_interface_examples(name, ok):
    if ok:
        assert _inputs.check_interface(name) == name
    else:
        with pytest.raises(ValueError, match='is not a valid interface name'):
            _inputs.check_interface(name)


@pytest.mark.parametrize('path, ok', [
    ('/etc/lvs-dr/vips.batch', True), ('/etc/lvs-dr/vips batch', False), ('/etc/lvs-dr/vips\nExecStartPre=/x', False),
    ('/etc/lvs-dr/%n', False), ('/etc/lvs-dr/$HOME', False), ('/etc/lvs-dr/"a"', False), ('/etc/lvs-dr/a\\x20', False),
    ('etc/lvs-dr/vips', False), ('/etc/lvs-dr/../fstab', False), ('/etc//fstab', False), ('/etc/lvs-dr/', False),
    ('/etc/./x', False), ('/', False),
])
def test_path_examples(path, ok):
    if ok:
        assert _inputs.check_path(path, 'persist_file') == path
    else:
        with pytest.raises(ValueError, match='persist_file .* is refused'):
            _inputs.check_path(path, 'persist_file')


def test_path_suffix_and_directories():
    dirs = ('/etc/sysctl.d',)
    assert _inputs.check_path('/etc/sysctl.d/90-x.conf', 'sysctl_file', '.conf', dirs)
    with pytest.raises(ValueError, match='does not end in .conf'):
        _inputs.check_path('/etc/sysctl.d/90-x', 'sysctl_file', '.conf', dirs)
    with pytest.raises(ValueError, match='not in a directory its reader reads'):
        _inputs.check_path('/etc/90-x.conf', 'sysctl_file', '.conf', dirs)


def test_not_empty():
    assert _inputs.check_not_empty('vip', ['x'], 'fix') == ['x']
    assert _inputs.check_not_empty('vip', None, 'fix') is None
    with pytest.raises(ValueError, match='^vip is an empty list: fix$'):
        _inputs.check_not_empty('vip', [], 'fix')


# Properties. Text of every kind, and text shaped like what an operator writes.

ADDRESSY = st.one_of(
    st.text(),
    st.text(alphabet='0123456789abcdef.:/%x ', max_size=45),
    st.builds(lambda ip, p: '%s/%d' % (ip, p), st.ip_addresses(), st.integers(0, 128)),
    st.builds(str, st.ip_addresses()),
    st.builds(lambda ip, zone: '%s%%%s' % (ip, zone), st.ip_addresses(v=6), st.text(min_size=1, max_size=5)),
)


@SETTINGS
@given(ADDRESSY, st.booleans())
def test_an_accepted_vip_reads_the_same_everywhere(text, on_lo):
    try:
        iface = _inputs.parse_vip(text, host_prefix_only=on_lo)
    except ValueError:
        return
    canonical = str(iface)
    # Only address characters, so no shell, unit or ip -batch reader can split or expand it.
    assert set(canonical) <= set('0123456789abcdef.:/')
    assert ipaddress.ip_interface(canonical) == iface and _inputs.unusable(iface.ip) is None
    assert not on_lo or iface.network.prefixlen == iface.max_prefixlen
    # The boot record line reads back as the same (interface, address).
    line = record_line('lo', iface, 'lo:lvs' if iface.version == 4 else None)
    assert parse_record(line) == {('lo', iface.ip): line}


INTERFACE_ALPHABET = st.characters(codec='utf-8', exclude_categories=('Cs',))


@SETTINGS
@given(st.one_of(st.text(INTERFACE_ALPHABET, max_size=17), st.from_regex(r'\A[a-z][a-z0-9._@-]{0,15}\Z')))
def test_an_accepted_interface_reads_the_same_everywhere(name):
    try:
        accepted = _inputs.check_interface(name)
    except ValueError:
        return
    assert len(accepted.encode('utf-8')) <= 15 and accepted not in ('.', '..')
    iface = ipaddress.ip_interface(u'198.51.100.100/32')
    line = record_line(accepted, iface, None)
    assert parse_record(line) == {(accepted, iface.ip): line}
    assert parse_sysctl_key(sysctl_key(accepted, 'arp_ignore')) == (accepted, 'arp_ignore')
    assert set(unit_escape(accepted)) <= set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.\\')


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.from_regex(r'\A/[a-z0-9/._%$ -]{0,30}\Z')))
def test_an_accepted_path_reads_the_same_everywhere(path):
    try:
        accepted = _inputs.check_path(path, 'persist_file')
    except ValueError:
        return
    # One word for a shell and for systemd (no white space, quotes, escapes, specifiers or variables).
    assert shlex.split(accepted) == [accepted] and not set(accepted) & set('%$\\"\'')
    assert os.path.isabs(accepted) and os.path.normpath(accepted) == accepted
