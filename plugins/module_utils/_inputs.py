# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""Validation of what an operator writes: addresses, ports, interface names, paths, lists. Shared by
every module so bad input reads the same everywhere; each check raises ValueError naming the input,
the risk and the fix, and accepts nothing that a command line, a file or a unit would read otherwise."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import re

from ansible.module_utils.common.text.converters import to_text

# 0.0.0.0/8 is "this network" (RFC 1122): a source only, never a destination.
THIS_NETWORK = ipaddress.ip_network(u'0.0.0.0/8')
# IFNAMSIZ - 1, as the kernel's dev_valid_name() allows.
MAX_INTERFACE = 15
# What a path the modules write may hold: systemd reads unit lines with specifiers (%), variables ($),
# quotes and escapes (\), and splits words at white space; ip -batch splits at white space too.
PATH_CHARS = re.compile(r'^/[A-Za-z0-9_./+@:-]*$')


SCOPED = ('a scoped IPv6 address (ADDRESS%ZONE): the zone names an interface for a link-local address, and '
          'ip and the boot record would read the address without it')


def _address_text(text):
    """The text of an address, refusing a zone: Python 3.9 and later parse ADDRESS%ZONE and keep the zone
    out of comparisons, so the live address would never match it."""
    text = to_text(text).strip()
    return text, SCOPED if '%' in text else None


def unusable(ip):
    """Why an address cannot be a host's unicast address on the segment (a VIP, a real IP), or None."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return 'an IPv4-mapped IPv6 address: write the IPv4 address %s itself' % ip.ipv4_mapped
    if ip.is_unspecified or (ip.version == 4 and ip in THIS_NETWORK):
        return 'unspecified ("this network", 0.0.0.0/8 or ::)'
    if ip.is_loopback:
        return 'a loopback address'
    if ip.is_multicast:
        return 'a multicast address'
    if ip.is_link_local:
        return 'a link-local address'
    if ip.version == 4 and ip.is_reserved:
        return 'reserved (240.0.0.0/4, the limited broadcast 255.255.255.255 among them)'
    return None


def parse_unicast(text, what):
    """An ipaddress address for a unicast host address (a real IP), refusing the unusable ones."""
    stripped, reason = _address_text(text)
    try:
        ip = ipaddress.ip_address(stripped)
    except ValueError:
        raise ValueError('%s %r is not a valid IPv4 or IPv6 address.' % (what, text))
    reason = reason or unusable(ip)
    if reason:
        raise ValueError('%s %r cannot be a host\'s address on the segment: it is %s.' % (what, text, reason))
    return ip


def parse_vip(text, host_prefix_only=False):
    """An ipaddress interface for a VIP written as ADDRESS or ADDRESS/PREFIX.

    host_prefix_only: the VIP sits on lo, where anything wider than /32 (/128) makes the whole
    subnet local to the host and so unreachable from it.
    """
    stripped, reason = _address_text(text)
    try:
        iface = ipaddress.ip_interface(stripped)
    except ValueError:
        raise ValueError('%r is not a valid IPv4 or IPv6 address (ADDRESS or ADDRESS/PREFIX).' % text)
    reason = reason or unusable(iface.ip)
    if reason:
        raise ValueError('%r is not usable as a virtual IP: it is %s.' % (text, reason))
    full = iface.max_prefixlen
    if host_prefix_only and iface.network.prefixlen != full:
        raise ValueError('%r: a VIP on the loopback interface must be a host address (/%d); '
                         'a wider prefix on lo makes the whole subnet %s local to this host and '
                         'unreachable from it.' % (text, full, iface.network))
    if iface.version == 4 and iface.network.prefixlen < 31 and iface.ip in (
            iface.network.network_address, iface.network.broadcast_address):
        raise ValueError('%r is the %s address of its subnet %s: hosts do not take it; give the VIP as a host '
                         'address (/32) or a prefix it is a host of.' % (
                             text, 'network' if iface.ip == iface.network.network_address else 'broadcast',
                             iface.network))
    return iface


def parse_vips(texts, host_prefix_only=False, family=None):
    """Parse a list of VIPs; duplicates are merged, the same address with two prefixes refused."""
    seen = {}
    for text in texts:
        iface = parse_vip(text, host_prefix_only)
        if family is not None and iface.version != family:
            raise ValueError('%r is an IPv%d address; this option takes IPv%d addresses only.'
                             % (text, iface.version, family))
        other = seen.get(iface.ip)
        if other is not None and other != iface:
            raise ValueError('Conflicting VIP definitions: %s and %s name the same address with '
                             'different prefixes.' % (other, iface))
        seen[iface.ip] = iface
    return sorted(seen.values(), key=lambda i: (i.version, i.ip))


def check_port(port):
    # The argument spec turns true into 1.
    if isinstance(port, bool) or not isinstance(port, int):
        raise ValueError('Port %r is not a number: ports are 1 to 65535.' % (port,))
    if not 1 <= port <= 65535:
        raise ValueError('Port %d is out of range: ports are 1 to 65535.' % port)
    return port


def check_not_empty(name, value, fix):
    """An empty list where the option's presence says "this set": fail rather than act on nothing."""
    if value == []:
        raise ValueError('%s is an empty list: %s' % (name, fix))
    return value


def check_interface(name, what='interface'):
    """An interface name as the kernel's dev_valid_name() takes it: 1 to 15 bytes, not . or .., no
    '/', ':' or white space (those would also split an ip -batch line or a sysctl key)."""
    text = to_text(name)
    if (not text or len(text.encode('utf-8')) > MAX_INTERFACE or text in ('.', '..')
            or any(c in text for c in '/:') or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)):
        raise ValueError('%s %r is not a valid interface name: Linux takes 1 to %d bytes without "/", ":", '
                         'white space or control characters, and not "." or "..".' % (what, name, MAX_INTERFACE))
    return text


def check_path(path, what, suffix=None, directories=None):
    """An absolute path the module writes or removes, written so that a systemd unit, ip -batch and a
    shell read it the same: no white space, control characters, %, $, quotes or backslashes, and no
    '.', '..' or empty component. suffix, directories: what the file's reader requires."""
    text = to_text(path)
    if not PATH_CHARS.match(text) or os.path.normpath(text) != text or text.endswith('/'):
        raise ValueError('%s %r is refused: a path the module writes and names in a systemd unit must be absolute '
                         'and normalised, and hold only letters, digits and _ . / + @ : - (no white space, control '
                         'characters, %%, $, quotes or backslashes, which a unit file or ip -batch would read '
                         'differently).' % (what, path))
    if suffix and not text.endswith(suffix):
        raise ValueError('%s %r does not end in %s: its reader would skip the file, so the setting would not '
                         'come back at boot.' % (what, path, suffix))
    if directories and os.path.dirname(text) not in directories:
        raise ValueError('%s %r is not in a directory its reader reads (%s): the setting would not come back at '
                         'boot. Put the file in one of those.' % (what, path, ', '.join(directories)))
    return text
