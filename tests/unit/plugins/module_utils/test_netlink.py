# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import socket
import struct
import subprocess
import sys
import types

import pytest

from ansible_collections.lvs.dr.plugins.module_utils import _netlink
from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal


# The netlink seam itself: reads are a raw RTM_GETADDR dump, changes go through pyroute2's IPRoute
# (a stand-in here, shaped like pyroute2 0.7 and 0.9 alike: addr() is all the seam calls).

def nlmsg(kind, payload):
    return _netlink.NLMSGHDR.pack(_netlink.NLMSGHDR.size + len(payload), kind, 2, 1, 0) + payload


def rtattr(kind, data):
    size = _netlink.RTATTR.size + len(data)
    return _netlink.RTATTR.pack(size, kind) + data + b'\0' * (_netlink._align(size) - size)


def addr_msg(family, prefixlen, index, *attributes):
    return nlmsg(_netlink.RTM_NEWADDR, _netlink.IFADDRMSG.pack(family, prefixlen, 0, 0, index) + b''.join(attributes))


def parse_addr_messages(data):
    return _netlink.parse_messages(data, _netlink.RTM_NEWADDR, _netlink.IFADDRMSG)


def test_parse_addr_messages_of_a_dump():
    v4 = ipaddress.ip_address(u'198.51.100.100').packed
    v6 = ipaddress.ip_address(u'2001:db8:0:1::100').packed
    first = addr_msg(socket.AF_INET, 32, 1, rtattr(_netlink.IFA_ADDRESS, v4), rtattr(_netlink.IFA_LOCAL, v4),
                     rtattr(_netlink.IFA_LABEL, b'lo:lvs\0')) + addr_msg(socket.AF_INET6, 128, 1, rtattr(_netlink.IFA_ADDRESS, v6))
    assert parse_addr_messages(first) == (False, [
        ((socket.AF_INET, 32, 0, 0, 1), {_netlink.IFA_ADDRESS: v4, _netlink.IFA_LOCAL: v4, _netlink.IFA_LABEL: b'lo:lvs\0'}),
        ((socket.AF_INET6, 128, 0, 0, 1), {_netlink.IFA_ADDRESS: v6})])
    assert parse_addr_messages(nlmsg(_netlink.NLMSG_DONE, b'\0' * 4)) == (True, [])
    with pytest.raises(OSError) as e:
        parse_addr_messages(nlmsg(_netlink.NLMSG_ERROR, struct.pack('=i', -1) + b'\0' * 16))
    assert e.value.errno == 1


def test_route_messages_name_their_interfaces_and_nexthops():
    # 198.51.100.0/24 out of index 2; 198.51.100.128/25 over two nexthops, indexes 3 and 4 (table 100).
    hops = b''.join(_netlink.RTNEXTHOP.pack(_netlink.RTNEXTHOP.size, 0, 0, index) for index in (3, 4))
    data = (nlmsg(_netlink.RTM_NEWROUTE, _netlink.RTMSG.pack(socket.AF_INET, 24, 0, 0, 254, 2, 253, 1, 0)
                  + rtattr(_netlink.RTA_OIF, struct.pack('=I', 2)))
            + nlmsg(_netlink.RTM_NEWROUTE, _netlink.RTMSG.pack(socket.AF_INET, 25, 0, 0, 100, 3, 0, 1, 0)
                    + rtattr(_netlink.RTA_MULTIPATH, hops))
            + nlmsg(_netlink.NLMSG_DONE, b'\0' * 4))
    done, messages = _netlink.parse_messages(data, _netlink.RTM_NEWROUTE, _netlink.RTMSG)
    assert done and [fields[4] for fields, dummy in messages] == [254, 100]
    assert _netlink.nexthop_indexes(messages[1][1][_netlink.RTA_MULTIPATH]) == [3, 4]
    assert _netlink.nexthop_indexes(b'') == []


def test_netlink_reads_agree_with_ip():
    """The dumps on the machine running the tests (a read of its own addresses and routes) against ip -j."""
    listing = json.loads(subprocess.check_output(['ip', '-j', 'addr', 'show']))
    expected = sorted((link['ifindex'], u'%s/%d' % (a['local'], a['prefixlen']), a.get('label'))
                      for link in listing for a in link.get('addr_info', []))
    nl = _netlink.Netlink()
    got = sorted((a['index'], str(a['address']), a['label']) for a in nl.addresses())
    assert got == expected
    assert nl.link_names() == dict((link['ifindex'], link['ifname']) for link in listing)
    assert nl.link_index('lo') == 1 and nl.link_index('nope0') is None
    routes = json.loads(subprocess.check_output(['ip', '-j', '-4', 'route', 'show', 'table', 'all']))
    devices = set(route['dev'] for route in routes if 'dev' in route)
    devices.update(hop['dev'] for route in routes for hop in route.get('nexthops', []))
    assert set(nl.link_names()[index] for index in nl.routed_indexes()) == devices


class FakeIPRoute(object):
    def __init__(self):
        self.calls = []

    def addr(self, command, **kwargs):
        if kwargs['address'] == '198.51.100.9':
            raise OSError(17, 'File exists')
        self.calls.append((command, kwargs))

    def close(self):
        self.calls.append(('close',))


def test_netlink_changes_through_pyroute2(monkeypatch):
    ipr = FakeIPRoute()
    monkeypatch.setitem(sys.modules, 'pyroute2', types.SimpleNamespace(IPRoute=lambda: ipr))
    nl = _netlink.Netlink()
    nl.add(1, ipaddress.ip_interface(u'198.51.100.100/32'), 'lo:lvs')
    nl.add(1, ipaddress.ip_interface(u'2001:db8:0:1::100/128'))
    nl.delete(1, ipaddress.ip_interface(u'198.51.100.100/32'))
    nl.close()
    assert ipr.calls == [
        ('add', {'index': 1, 'address': '198.51.100.100', 'prefixlen': 32, 'label': 'lo:lvs'}),
        ('add', {'index': 1, 'address': '2001:db8:0:1::100', 'prefixlen': 128}),
        ('del', {'index': 1, 'address': '198.51.100.100', 'prefixlen': 32}),
        ('close',),
    ]
    with pytest.raises(Refusal) as e:
        nl.add(1, ipaddress.ip_interface(u'198.51.100.9/32'))
    assert e.value.msg.startswith('netlink refused to add 198.51.100.9/32: ')


def test_netlink_without_a_change_does_not_load_pyroute2(monkeypatch):
    monkeypatch.delitem(sys.modules, 'pyroute2', raising=False)
    nl = _netlink.Netlink()
    nl.addresses()
    nl.close()
    assert 'pyroute2' not in sys.modules
