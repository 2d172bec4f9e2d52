# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""Validation of VIPs and ports, shared by every module so bad input reads the same everywhere."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible.module_utils.common.text.converters import to_text


def _reject_special(iface, text):
    ip = iface.ip
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local:
        raise ValueError('%r is not usable as a virtual IP: it is an unspecified, loopback, '
                         'multicast or link-local address.' % text)


def parse_vip(text, host_prefix_only=False):
    """An ipaddress interface for a VIP written as ADDRESS or ADDRESS/PREFIX.

    host_prefix_only: the VIP sits on lo, where anything wider than /32 (/128) makes the whole
    subnet local to the host and so unreachable from it.
    """
    try:
        iface = ipaddress.ip_interface(to_text(text).strip())
    except ValueError:
        raise ValueError('%r is not a valid IPv4 or IPv6 address (ADDRESS or ADDRESS/PREFIX).' % text)
    _reject_special(iface, text)
    full = iface.max_prefixlen
    if host_prefix_only and iface.network.prefixlen != full:
        raise ValueError('%r: a VIP on the loopback interface must be a host address (/%d); '
                         'a wider prefix on lo makes the whole subnet %s local to this host and '
                         'unreachable from it.' % (text, full, iface.network))
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
    if not 1 <= port <= 65535:
        raise ValueError('Port %d is out of range: ports are 1 to 65535.' % port)
    return port
