# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The one way the modules read and change addresses and routes: rtnetlink dumps on a stdlib socket for
reads, pyroute2 (imported only for a change: its import costs more than the rest of a run that changes
nothing) to add or remove an address."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import socket
import struct
from importlib.util import find_spec

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal

PYROUTE2_MISSING = find_spec('pyroute2') is None

# rtnetlink, as <linux/netlink.h>, <linux/rtnetlink.h> and <linux/if_addr.h> define it.
NLMSG_ERROR, NLMSG_DONE, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 2, 3, 20, 22, 24, 26
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
RTA_OIF, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 4, 6, 9, 15
RTN_UNICAST, RT_TABLE_MAIN = 1, 254
NLMSGHDR = struct.Struct('=IHHII')
IFADDRMSG = struct.Struct('=BBBBI')
RTMSG = struct.Struct('=BBBBBBBBI')
RTNEXTHOP = struct.Struct('=HBBi')
RTATTR = struct.Struct('=HH')
# The kernel fills a dump message of at most 32 KiB per read.
RECV_BUFFER = 65536


def _align(length):
    return (length + 3) & ~3


def _records(data, start, end, record):
    """(fields, offset) of each record between start and end whose first field is its length, as
    netlink lays out messages, attributes and nexthops (each aligned to 4 bytes)."""
    while start + record.size <= end:
        fields = record.unpack_from(data, start)
        if fields[0] < record.size:
            break
        yield fields, start
        start += _align(fields[0])


def parse_messages(data, reply, header):
    """(done, [(header's fields, {attribute type: bytes})]) of the reply messages in one read of a dump."""
    found = []
    for (length, kind, dummy, dummy2, dummy3), offset in _records(data, 0, len(data), NLMSGHDR):
        if kind == NLMSG_DONE:
            return True, found
        if kind == NLMSG_ERROR:
            error = -struct.unpack_from('=i', data, offset + NLMSGHDR.size)[0]
            raise OSError(error, os.strerror(error))
        if kind == reply:
            body = offset + NLMSGHDR.size
            attributes = dict((attribute, bytes(data[at + RTATTR.size:at + size]))
                              for (size, attribute), at in _records(data, body + header.size, offset + length, RTATTR))
            found.append((header.unpack_from(data, body), attributes))
    return False, found


def nexthop_indexes(data):
    """The interface indexes of an RTA_MULTIPATH attribute's nexthops."""
    return [index for (dummy, dummy2, dummy3, index), dummy4 in _records(data, 0, len(data), RTNEXTHOP)]


class Netlink(object):
    """Every netlink call of the module. Reads are dumps (addresses, IPv4 routes) on a stdlib socket; pyroute2
    (whose import costs more than the rest of a run that changes nothing) is loaded for a change."""

    def __init__(self):
        self.ipr = None

    def close(self):
        if self.ipr is not None:
            self.ipr.close()

    def link_names(self):
        return dict(socket.if_nameindex())

    def link_index(self, name):
        try:
            return socket.if_nametoindex(name)
        except (OSError, ValueError):
            return None

    def _dump(self, request, query, reply, header):
        """The reply messages to a dump request (query: its header), read by read, as (header's fields,
        attributes); OSError when netlink refuses."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(query), request, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + query)
            done = False
            while not done:
                done, found = parse_messages(sock.recv(RECV_BUFFER), reply, header)
                yield from found
        finally:
            sock.close()

    def addresses(self):
        """[{'index', 'address': ip_interface, 'label'}] of every interface."""
        result = []
        try:
            for (family, prefixlen, dummy, dummy2, index), attributes in self._dump(
                    RTM_GETADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), RTM_NEWADDR, IFADDRMSG):
                # IPv4 keeps the address in IFA_LOCAL (IFA_ADDRESS is the peer's on point-to-point links).
                packed = attributes.get(IFA_LOCAL) or attributes.get(IFA_ADDRESS)
                if family not in (socket.AF_INET, socket.AF_INET6) or packed is None:
                    continue
                label = attributes.get(IFA_LABEL)
                result.append({'index': index, 'label': to_text(label.rstrip(b'\0')) if label else None,
                               'address': ipaddress.ip_interface((ipaddress.ip_address(packed), prefixlen))})
        except OSError as e:
            raise Refusal('netlink refused to list the addresses: %s' % to_text(e))
        return result

    def routed_indexes(self):
        """The indexes of the interfaces that IPv4 routes of any table (policy routing's included) lead out
        of; OSError when netlink refuses. Routes through nexthop objects carry their interface only while
        net.ipv4.nexthop_compat_mode is 1 (the default)."""
        result = set()
        # Table 0 in the query: every table.
        for dummy, attributes in self._dump(RTM_GETROUTE, RTMSG.pack(socket.AF_INET, *(0,) * 8), RTM_NEWROUTE, RTMSG):
            if RTA_OIF in attributes:
                result.add(struct.unpack('=I', attributes[RTA_OIF])[0])
            result.update(nexthop_indexes(attributes.get(RTA_MULTIPATH, b'')))
        return result

    def default_route_indexes(self):
        """The interface indexes of the main table's IPv4 default routes, the lowest metric first, as
        `ip -4 route show default` lists them; one netlink route dump."""
        routes = []
        try:
            for (dummy, dst_len, dummy2, dummy3, table, dummy4, dummy5, kind, dummy6), attributes in self._dump(
                    RTM_GETROUTE, RTMSG.pack(socket.AF_INET, *(0,) * 8), RTM_NEWROUTE, RTMSG):
                if RTA_TABLE in attributes:
                    table = struct.unpack('=I', attributes[RTA_TABLE])[0]
                if dst_len or kind != RTN_UNICAST or table != RT_TABLE_MAIN:
                    continue
                metric = struct.unpack('=I', attributes[RTA_PRIORITY])[0] if RTA_PRIORITY in attributes else 0
                indexes = [struct.unpack('=I', attributes[RTA_OIF])[0]] if RTA_OIF in attributes else []
                routes.append((metric, indexes + nexthop_indexes(attributes.get(RTA_MULTIPATH, b''))))
        except OSError as e:
            raise Refusal('netlink refused to list the IPv4 routes: %s' % to_text(e))
        return [index for dummy, indexes in sorted(routes, key=lambda route: route[0]) for index in indexes]

    def _call(self, command, index, vip, **extra):
        try:
            if self.ipr is None:
                from pyroute2 import IPRoute
                self.ipr = IPRoute()
            self.ipr.addr(command, index=index, address=str(vip.ip), prefixlen=vip.network.prefixlen, **extra)
        except Exception as e:  # pyroute2's NetlinkError; its module path differs between releases
            raise Refusal('netlink refused to %s %s: %s' % (command, vip, to_text(e)))

    def add(self, index, vip, label=None):
        extra = {'label': label} if label else {}
        self._call('add', index, vip, **extra)

    def delete(self, index, vip):
        self._call('del', index, vip)
