# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the keepalived_director role (documented in the .yml files next to this one).

keepalived_virtual_servers
    The virtual servers with the real servers of each resolved (static list, then the hosts of
    real_servers_group), plus one message per problem: the structure (keys, types, choices,
    required keys, exclusive keys: the option tree of keepalived_virtual_servers.yml), ranges,
    IPv4/IPv6 addresses and families, cross references (VRRP scripts, instances, sync groups).
keepalived_virtual_server_blocks
    The virtual_server blocks of keepalived.conf for the same input, one string (fails with the
    problems of keepalived_virtual_servers if there are any).

Why Python: with ansible-core 2.19 a Jinja loop costs milliseconds per variable access, and the
role argument spec validation of a list templates and deep-copies every value; for 1,000 virtual
servers of 20 real servers each that was over a minute. Here it is one plain pass.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import gc
import ipaddress
import os
import re
from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleFilterError

_DIGITS = re.compile(r'[0-9]+\Z')
_WHOLE = re.compile(r'\s*[-+]?[0-9]+\s*\Z')
# The strings ansible.builtin.bool (and an argument spec of type bool) accepts.
_TRUE = frozenset(('yes', 'on', 'true', '1'))
_FALSE = frozenset(('no', 'off', 'false', '0'))
_U32 = 4294967295
_VS_NAME = 'keepalived_director_virtual_servers'


# ----------------------------------------------------------------------------------------------
# Reading Ansible data in one pass
# ----------------------------------------------------------------------------------------------
class _NeedsAccess(Exception):
    """A value that only Ansible's own item access returns correctly (a template, a vaulted
    string, a type this module does not know)."""


def _raw(container):
    """The items of an ansible-core 2.19 lazy container as stored (not yet templated): the
    container itself for plain data (other ansible-core versions, nested values)."""
    non_lazy_copy = getattr(container, '_non_lazy_copy', None)
    return non_lazy_copy() if non_lazy_copy is not None else container


_KINDS = {}  # type -> what _fast does with its values
_STR = 0
_SCALAR = 1
_DICT = 2
_LIST = 3
_OTHER = 4


def _kind(cls):
    if issubclass(cls, str):
        kind = _STR
    elif cls is type(None) or issubclass(cls, (bool, int, float)):
        kind = _SCALAR
    elif issubclass(cls, dict):
        kind = _DICT
    elif issubclass(cls, (list, tuple)):
        kind = _LIST
    else:
        kind = _OTHER  # vaulted strings, dates, undefined values, ...
    _KINDS[cls] = kind
    return kind


def _fast(value):
    """value as plain data, read directly; _NeedsAccess where item access could change it."""
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _kind(type(value))
    if kind == _STR:
        if '{' in value and ('{{' in value or '{%' in value or '{#' in value) or value.startswith('#jinja2:'):
            raise _NeedsAccess()
        return value
    if kind == _SCALAR:
        return value
    if kind == _DICT:
        return {key: _fast(item) for key, item in dict.items(_raw(value))}
    if kind == _LIST:
        return [_fast(item) for item in _raw(value)]
    raise _NeedsAccess()


def _plain(value):
    """value (a filter argument) as plain lists, dicts and scalars.

    ansible-core 2.19 hands filters lazy containers that template each item when it is read,
    at a cost of microseconds per item: 20,000 real servers took seconds. Items that cannot
    contain a template are read directly; the others (and their containers) through normal
    item access, so templates and vaulted values come out exactly as Ansible renders them.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in dict.items(_raw(value)):
            try:
                out[key] = _fast(item)
            except _NeedsAccess:
                out[key] = _plain(value[key])
        return out
    if isinstance(value, (list, tuple)):
        out = []
        for index, item in enumerate(_raw(value)):
            try:
                out.append(_fast(item))
            except _NeedsAccess:
                out.append(_plain(value[index]))
        return out
    if isinstance(value, Mapping):  # hostvars[host] and other read-only views
        return dict((key, _plain(value[key])) for key in value)
    return value


@contextlib.contextmanager
def _no_gc():
    """The cyclic garbage collector off while the filter builds its (acyclic) result: with the
    variables of a large inventory in memory, each of its passes walks millions of objects, which
    tripled the time of the filter."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ----------------------------------------------------------------------------------------------
# Small helpers with the semantics of the Jinja expressions they replace
# ----------------------------------------------------------------------------------------------
def _text(value):
    """value as Jinja prints it ({{ value }}, value | string)."""
    return value if type(value) is str else str(value)  # pylint: disable=unidiomatic-typecheck


def _int_in(value, low, high):
    """A non-boolean whole number (or its decimal digits) within low..high."""
    if isinstance(value, int):
        return not isinstance(value, bool) and low <= value <= high
    text = _text(value)
    return _DIGITS.match(text) is not None and low <= int(text) <= high


def _as_int(value):
    """value | int: 0 when it is no whole number."""
    try:
        return int(_text(value))
    except ValueError:
        return 0


def _is_bool(value):
    """ansible.builtin.bool (and an argument spec of type bool) accepts value."""
    if isinstance(value, (bool, int)):
        return value in (0, 1)
    return isinstance(value, str) and value.lower() in _TRUE | _FALSE


def _to_bool(value):
    """value | bool (without the deprecation warning of ansible-core 2.19 for other values)."""
    if isinstance(value, str):
        value = value.lower()
    elif isinstance(value, int):
        value = str(value).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return value == 1


def _as_list(value):
    """value | default([], true)."""
    return value if value else []


def _family(address, cache):
    """'inet', 'inet6' or None (not a plain IPv4/IPv6 address: no prefix, no zone index)."""
    if not isinstance(address, str):
        return None
    try:
        return cache[address]
    except KeyError:
        pass
    family = None
    if '%' not in address:
        try:
            family = 'inet' if ipaddress.ip_address(address).version == 4 else 'inet6'
        except ValueError:
            pass
    cache[address] = family
    return family


# ----------------------------------------------------------------------------------------------
# The structure of a virtual server: the option tree documented in keepalived_virtual_servers.yml
# (its _input suboptions), plus the rules between keys that documentation has no field for.
# ----------------------------------------------------------------------------------------------
_TYPE_CHECKS = {
    'str': lambda value: not isinstance(value, (dict, list)),
    'int': lambda value: not isinstance(value, bool) and (isinstance(value, int) or (
        isinstance(value, str) and _WHOLE.match(value) is not None)),
    'bool': _is_bool,
    'list': lambda value: isinstance(value, list),
    'dict': lambda value: isinstance(value, dict),
    'raw': lambda value: True,
}
_TYPE_NAMES = {'str': 'a string', 'int': 'a whole number', 'bool': 'a boolean', 'list': 'a list',
               'dict': 'a dictionary'}
_TYPE_PLURALS = {'str': 'strings', 'int': 'whole numbers', 'bool': 'booleans', 'list': 'lists',
                 'dict': 'dictionaries'}


class _Option(object):
    """One option of the documentation tree: its type, choices, suboptions and rules."""
    __slots__ = ('type', 'check', 'elements', 'check_element', 'choices', 'options', 'required', 'rules')

    def __init__(self, doc):
        self.type = doc.get('type', 'str')
        self.check = _TYPE_CHECKS[self.type]
        self.elements = doc.get('elements') if self.type == 'list' else None
        self.check_element = _TYPE_CHECKS[self.elements] if self.elements else None
        self.choices = doc.get('choices')
        if self.choices is not None and self.type == 'str':
            self.choices = [_text(choice) for choice in self.choices]
        sub = doc.get('suboptions') or {}
        self.options = dict((name, _Option(item)) for name, item in sub.items()) if sub else None
        self.required = tuple(name for name, item in sub.items() if item.get('required'))
        self.rules = {}


_CHECK_RULES = {'required_if': (('type', 'HTTP_GET', ('urls',)), ('type', 'SSL_GET', ('urls',)),
                                ('type', 'MISC_CHECK', ('misc_path',)))}


def _load_virtual_server_option():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'keepalived_virtual_servers.yml')
    with open(path) as handle:
        doc = yaml.safe_load(handle)
    option = _Option(doc['DOCUMENTATION']['options']['_input'])
    option.rules = {'required_one_of': (('ip', 'fwmark'),), 'mutually_exclusive': (('ip', 'fwmark'),),
                    'required_together': (('ip', 'port'),)}
    option.options['checks'].rules = _CHECK_RULES
    option.options['real_servers'].options['checks'].rules = _CHECK_RULES
    return option


_VIRTUAL_SERVER = _load_virtual_server_option()


# ----------------------------------------------------------------------------------------------
# keepalived_virtual_servers
# ----------------------------------------------------------------------------------------------
class _Checker(object):
    """One pass over the variables: resolved virtual servers and the list of problems."""

    def __init__(self, groups, hostvars, real_ip_var, weight_var):
        self.groups = groups
        self.hostvars = hostvars if hostvars is not None else {}
        self.real_ip_var = real_ip_var
        self.weight_var = weight_var
        self.errors = []
        self.families = {}
        self.host_vars = {}  # host -> hostvars[host]
        self.members = {}    # (host, ip_var) -> (ip, where the ip came from, weight)

    # -- generic checks ---------------------------------------------------------------------
    def check_ip(self, where, what, address):
        if not _family(address, self.families):
            self.errors.append("%s: %s '%s' is not an IPv4 or IPv6 address" % (where, what, _text(address)))

    def check_port(self, where, what, port):
        if not _int_in(port, 1, 65535):
            self.errors.append('%s: %s %s is out of range 1..65535' % (where, what, _text(port)))

    def check_int(self, where, what, value, low, high):
        if value is not None and not _int_in(value, low, high):
            self.errors.append('%s: %s %s is out of range %d..%d' % (where, what, _text(value), low, high))

    # -- structure ------------------------------------------------------------------------------
    def structure(self, where, item, option):
        """Keys, types and choices of the dict item against option (documentation tree); a value
        of the wrong type is reported and dropped so that the checks after this one can trust
        the types."""
        options, errors = option.options, self.errors
        unknown = item.keys() - options.keys()
        if unknown:
            errors.append('%s: unsupported parameters: %s (supported: %s)'
                          % (where, ', '.join(sorted(_text(key) for key in unknown)), ', '.join(sorted(options))))
        missing = [key for key in option.required if item.get(key) is None]
        if missing:
            errors.append('%s: missing required arguments: %s' % (where, ', '.join(missing)))
        for key, value in item.items():
            sub = options.get(key)
            if sub is None or value is None:
                continue
            if not sub.check(value):
                errors.append('%s: %s must be %s, got %s' % (where, key, _TYPE_NAMES[sub.type], _text(value)))
                item[key] = None
            elif sub.choices is not None and (_text(value) if sub.type == 'str' else value) not in sub.choices:
                errors.append('%s: value of %s must be one of: %s, got: %s'
                              % (where, key, ', '.join(_text(choice) for choice in sub.choices), _text(value)))
            elif sub.check_element is not None:
                check = sub.check_element
                if not all(check(element) for element in value):
                    errors.append('%s: %s must be a list of %s' % (where, key, _TYPE_PLURALS[sub.elements]))
                    item[key] = None
                elif sub.options is not None:
                    for index, element in enumerate(value):
                        self.structure('%s: %s[%d]' % (where, key, index), element, sub)
            elif sub.options is not None:
                self.structure('%s: %s' % (where, key), value, sub)
        if option.rules:
            self._rules(where, item, option.rules)

    def _rules(self, where, item, rules):
        def count(keys):
            return len([key for key in keys if item.get(key) is not None])
        for keys in rules.get('mutually_exclusive', ()):
            if count(keys) > 1:
                self.errors.append('%s: parameters are mutually exclusive: %s' % (where, '|'.join(keys)))
        for keys in rules.get('required_one_of', ()):
            if not count(keys):
                self.errors.append('%s: one of the following is required: %s' % (where, ', '.join(keys)))
        for keys in rules.get('required_together', ()):
            if 0 < count(keys) < len(keys):
                self.errors.append('%s: parameters are required together: %s' % (where, ', '.join(keys)))
        for key, value, keys in rules.get('required_if', ()):
            missing = [name for name in keys if item.get(name) is None]
            if item.get(key) == value and missing:
                self.errors.append('%s: %s is %s but all of the following are missing: %s'
                                   % (where, key, value, ', '.join(missing)))

    # -- VRRP ----------------------------------------------------------------------------------
    def _duplicates(self, variable, names):
        seen, reported = set(), []
        for name in names:
            if name in seen and name not in reported:
                reported.append(name)
            seen.add(name)
        for name in reported:
            self.errors.append('%s: name %s is defined more than once' % (variable, _text(name)))

    def vrrp(self, instances, scripts, sync_groups, strict):
        script_names = [script.get('name') for script in scripts]
        self._duplicates('keepalived_director_vrrp_scripts', script_names)
        instance_names = [instance.get('name') for instance in instances]
        self._duplicates('keepalived_director_vrrp_instances', instance_names)
        router_ids = set()
        for index, instance in enumerate(instances):
            where = 'keepalived_director_vrrp_instances[%d] (%s)' % (index, _text(instance.get('name')))
            self.check_int(where, 'virtual_router_id', instance.get('virtual_router_id'), 1, 255)
            self.check_int(where, 'priority', instance.get('priority'), 1, 255)
            self.check_int(where, 'advert_int', instance.get('advert_int'), 1, 255)
            key = (_text(instance.get('interface')), _text(instance.get('virtual_router_id')))
            if key in router_ids:
                self.errors.append('%s: virtual_router_id %s is already used on interface %s'
                                   % (where, key[1], key[0]))
            router_ids.add(key)
            if instance.get('unicast_src_ip'):
                self.check_ip(where, 'unicast_src_ip', instance['unicast_src_ip'])
            for peer in _as_list(instance.get('unicast_peer')):
                self.check_ip(where, 'unicast_peer', peer)
            self._vips(where, instance)
            state = instance.get('state') or 'BACKUP'
            if _to_bool(instance.get('nopreempt') or False) and state != 'BACKUP':
                self.errors.append('%s: nopreempt needs state BACKUP (keepalived ignores it with MASTER)' % where)
            if instance.get('preempt_delay') is not None and state != 'BACKUP':
                self.errors.append('%s: preempt_delay needs state BACKUP (keepalived ignores it with MASTER)' % where)
            self.check_int(where, 'preempt_delay', instance.get('preempt_delay'), 0, 1000)
            for script in _as_list(instance.get('track_script')):
                if script not in script_names:
                    self.errors.append('%s: track_script %s is not defined in keepalived_director_vrrp_scripts'
                                       % (where, _text(script)))
            if strict and (_as_list(instance.get('unicast_peer')) or instance.get('authentication')):
                self.errors.append('%s: keepalived_director_vrrp_strict forbids unicast_peer and authentication'
                                   % where)
        weighted = [script.get('name') for script in scripts if script.get('weight') not in (None, 0)]
        for index, group in enumerate(sync_groups):
            where = 'keepalived_director_vrrp_sync_groups[%d] (%s)' % (index, _text(group.get('name')))
            members = _as_list(group.get('group'))
            if len(set(members)) < 2:
                self.errors.append('%s: a sync group needs at least two VRRP instances' % where)
            for member in members:
                if member not in instance_names:
                    self.errors.append('%s: %s is not a VRRP instance' % (where, _text(member)))
            if _to_bool(group.get('sync_group_tracking_weight') or False):
                continue
            for instance in instances:
                if instance.get('name') not in members:
                    continue
                for script in _as_list(instance.get('track_script')):
                    if script in weighted:
                        self.errors.append(
                            '%s: %s tracks %s, which has a weight; keepalived ignores it in a sync group unless '
                            'sync_group_tracking_weight is true' % (where, _text(instance.get('name')), _text(script)))

    def _vips(self, where, instance):
        families = set()
        for kind in ('virtual_ipaddress', 'virtual_ipaddress_excluded'):
            for vip in _as_list(instance.get(kind)):
                words = _text(vip).split()
                parts = (words[0] if words else '').split('/')
                family = _family(parts[0], self.families)
                if not family or len(parts) > 2:
                    self.errors.append("%s: %s '%s' does not start with an IPv4 or IPv6 address[/prefix]"
                                       % (where, kind, _text(vip)))
                elif len(parts) == 2 and not _int_in(parts[1], 0, 32 if family == 'inet' else 128):
                    self.errors.append("%s: %s '%s' has an invalid prefix length" % (where, kind, _text(vip)))
                if kind == 'virtual_ipaddress' and family:
                    families.add(family)
        if len(families) > 1:
            self.errors.append('%s: virtual_ipaddress mixes IPv4 and IPv6; put the other family in '
                               'virtual_ipaddress_excluded' % where)

    # -- virtual servers -------------------------------------------------------------------
    def virtual_servers(self, virtual_servers):
        resolved, seen = [], set()
        for index, vs in enumerate(virtual_servers):
            if not isinstance(vs, dict):
                self.errors.append('%s[%d]: must be a dictionary, got %s' % (_VS_NAME, index, _text(vs)))
                continue
            fwmark = vs.get('fwmark')
            label = ('fwmark %s' % _text(fwmark) if fwmark is not None
                     else '[%s]:%s' % (_text(vs.get('ip', '')), _text(vs.get('port', ''))))
            where = '%s[%d] (%s)' % (_VS_NAME, index, label)
            self.structure(where, vs, _VIRTUAL_SERVER)
            group = vs.get('real_servers_group') or ''
            group_missing = bool(group) and group not in self.groups
            vs['real_servers'] = self._real_servers(vs, group, group_missing)
            vs['origin'] = where
            vs['group_missing'] = group_missing
            self._check_virtual_server(where, vs, seen)
            resolved.append(vs)
        return resolved

    def _real_servers(self, vs, group, group_missing):
        """The static real servers, then the hosts of the group (sorted by name) that no static
        entry with the same address and port replaces."""
        default_port = vs.get('real_server_port') or vs.get('port')
        vs_inhibit = vs.get('inhibit_on_failure') or False
        vs_checks = _as_list(vs.get('checks'))
        out, keys = [], set()
        for index, rs in enumerate(_as_list(vs.get('real_servers'))):
            port = rs.get('port') or default_port
            ip = _text(rs['ip']) if rs.get('ip') is not None else None  # None: reported by structure()
            keys.add((ip, _text(port)))
            checks, weight, inhibit = rs.get('checks'), rs.get('weight'), rs.get('inhibit_on_failure')
            out.append({
                'origin': 'real_servers[%d]' % index,
                'ip': ip,
                'port': port,
                'weight': weight if weight is not None else 1,
                'inhibit_on_failure': inhibit if inhibit is not None else vs_inhibit,
                'notify_up': rs.get('notify_up') or '',
                'notify_down': rs.get('notify_down') or '',
                'checks': checks if checks is not None else vs_checks,
                'extra': _as_list(rs.get('extra')),
            })
        if group and not group_missing:
            ip_var = vs.get('real_server_ip_var') or self.real_ip_var
            port_text = _text(default_port)
            for host in sorted(_as_list(self.groups[group])):
                ip, ip_from, weight = self._member(host, ip_var)
                if (ip, port_text) in keys:
                    continue
                out.append({
                    'origin': 'host %s of group %s (address from %s)' % (host, group, ip_from),
                    'ip': ip,
                    'port': default_port,
                    'weight': weight,
                    'inhibit_on_failure': vs_inhibit,
                    'notify_up': '',
                    'notify_down': '',
                    'checks': vs_checks,
                    'extra': [],
                })
        return out

    def _member(self, host, ip_var):
        """(address, the variable it came from, weight) of a host of a real_servers_group:
        hostvars[host][ip_var], else its ansible_host, else its name; weight_var, default 1."""
        key = (host, ip_var)
        if key not in self.members:
            if host not in self.host_vars:
                self.host_vars[host] = self.hostvars[host] if host in self.hostvars else {}
            hostvars = self.host_vars[host]
            if ip_var in hostvars and hostvars[ip_var]:
                ip, ip_from = _text(hostvars[ip_var]), ip_var
            elif 'ansible_host' in hostvars and hostvars['ansible_host']:
                ip, ip_from = _text(hostvars['ansible_host']), 'ansible_host'
            else:
                ip, ip_from = _text(host), 'inventory_hostname'
            weight = hostvars[self.weight_var] if self.weight_var in hostvars else None
            self.members[key] = (ip, ip_from, _plain(weight) if weight is not None else 1)
        return self.members[key]

    def _check_virtual_server(self, where, vs, seen):
        vs_family = None
        fwmark = vs.get('fwmark')
        if fwmark is not None:
            self.check_int(where, 'fwmark', fwmark, 1, _U32)
            key = ('fwmark', _text(fwmark), _text(vs.get('ip_family', '')))
        else:  # a missing ip or port (or one of the wrong type) is reported by structure()
            if vs.get('ip') is not None:
                self.check_ip(where, 'ip', vs['ip'])
            if vs.get('port') is not None:
                self.check_port(where, 'port', vs['port'])
            vs_family = _family(vs.get('ip'), self.families)
            key = (_text(vs.get('ip')), _text(vs.get('port')), _text(vs.get('protocol', 'TCP')))
        if key in seen:
            self.errors.append('%s: the same virtual server is defined more than once' % where)
        seen.add(key)
        if vs.get('real_server_port') is not None:
            self.check_port(where, 'real_server_port', vs['real_server_port'])
        if vs['group_missing']:
            self.errors.append('%s: real_servers_group %s is not an inventory group'
                               % (where, _text(vs['real_servers_group'])))
        sorry = vs.get('sorry_server')
        if sorry:
            if sorry.get('ip') is not None:
                self.check_ip(where, 'sorry_server ip', sorry['ip'])
            if sorry.get('port') is not None:
                self.check_port(where, 'sorry_server port', sorry['port'])
        for name in ('delay_loop', 'persistence_timeout', 'quorum', 'hysteresis'):
            self.check_int(where, name, vs.get(name), 0 if name == 'hysteresis' else 1, _U32)
        if not vs['real_servers'] and not vs['group_missing']:
            group = vs.get('real_servers_group')
            self.errors.append('%s: no real servers (real_servers is empty%s); keepalived rejects such a virtual server'
                               % (where, ' and group %s has no hosts' % _text(group) if group else ''))
        vs_port = vs.get('port')
        vs_port_text = _text(vs_port) if vs_port is not None else ''
        dr = vs.get('lb_kind', 'DR') == 'DR' and vs_port is not None
        # The virtual server's checks are checked once, not once per real server that uses them.
        vs_checks = vs.get('checks') or []
        for index, check in enumerate(vs_checks):
            self._check_health_check(where, index, check, any(
                rs['port'] is None and rs['checks'] is vs_checks for rs in vs['real_servers']))
        rs_seen = set()
        errors, families = self.errors, self.families
        for rs in vs['real_servers']:
            rs_where = '%s: %s' % (where, rs['origin'])
            ip, port = rs['ip'], rs['port']
            rs_family = _family(ip, families)
            if ip is None:
                pass
            elif not rs_family:
                errors.append("%s: ip '%s' is not an IPv4 or IPv6 address" % (rs_where, ip))
            elif vs_family and rs_family != vs_family:
                errors.append("%s: ip %s is not of the virtual server's address family" % (rs_where, ip))
            if port is not None:
                port_text = _text(port)
                if port_text != vs_port_text:
                    self.check_port(rs_where, 'port', port)
                    if dr and _int_in(port, 1, 65535) and int(port_text) != _as_int(vs_port):
                        errors.append('%s: port %s differs from the virtual server port %s; lb_kind DR cannot '
                                      'translate ports' % (rs_where, port_text, vs_port_text))
            self.check_int(rs_where, 'weight', rs['weight'], 0, 65535)
            key = (ip, _text(port))
            if key in rs_seen:
                errors.append('%s: real server %s port %s is listed more than once' % (rs_where, ip, _text(port)))
            rs_seen.add(key)
            if rs['checks'] is not vs_checks:
                for index, check in enumerate(rs['checks']):
                    self._check_health_check(rs_where, index, check, port is None)

    def _check_health_check(self, owner, index, check, without_port):
        """Addresses and ports of one health check of owner (a virtual server or a real server);
        without_port: a real server that uses it has no port (fwmark virtual server)."""
        where = '%s: checks[%d] (%s)' % (owner, index, _text(check.get('type', '?')))
        for name in ('connect_ip', 'bindto'):
            if check.get(name):
                self.check_ip(where, name, check[name])
        for name in ('connect_port', 'bind_port'):
            if check.get(name) is not None:
                self.check_port(where, name, check[name])
        if without_port and check.get('type', '') != 'MISC_CHECK' and not check.get('connect_port'):
            self.errors.append('%s: needs connect_port (the real servers of a fwmark virtual server have no port)'
                               % where)


def _plain_list(filter_name, name, value):
    value = _plain(value)
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnsibleFilterError('%s: %s must be a list, got %s' % (filter_name, name, _text(value)))
    return value


def _resolve(checker, virtual_servers):
    virtual_servers = _plain(virtual_servers)
    if virtual_servers is None:
        virtual_servers = []
    if not isinstance(virtual_servers, list):
        checker.errors.append('%s: must be a list of dictionaries, got %s' % (_VS_NAME, _text(virtual_servers)))
        virtual_servers = []
    return checker.virtual_servers(virtual_servers)


def keepalived_virtual_servers(virtual_servers, groups=None, hostvars=None,
                               real_ip_var='lvs_dr_realserver_real_ip', weight_var='lvs_dr_realserver_weight',
                               vrrp_instances=None, vrrp_scripts=None, vrrp_sync_groups=None, vrrp_strict=False):
    """{'virtual_servers': resolved virtual servers, 'errors': [message, ...]}."""
    with _no_gc():
        return _keepalived_virtual_servers(virtual_servers, groups, hostvars, real_ip_var, weight_var,
                                           vrrp_instances, vrrp_scripts, vrrp_sync_groups, vrrp_strict)


def _keepalived_virtual_servers(virtual_servers, groups, hostvars, real_ip_var, weight_var,
                                vrrp_instances, vrrp_scripts, vrrp_sync_groups, vrrp_strict):
    checker = _Checker(groups if groups is not None else {}, hostvars, real_ip_var, weight_var)
    vrrp = [[item for item in _plain_list('keepalived_virtual_servers', name, value) if isinstance(item, dict)]
            for name, value in (('vrrp_instances', vrrp_instances), ('vrrp_scripts', vrrp_scripts),
                                ('vrrp_sync_groups', vrrp_sync_groups))]
    checker.vrrp(vrrp[0], vrrp[1], vrrp[2], _to_bool(vrrp_strict))
    resolved = _resolve(checker, virtual_servers)
    return {'virtual_servers': resolved, 'errors': checker.errors}


# ----------------------------------------------------------------------------------------------
# keepalived_virtual_server_blocks
# ----------------------------------------------------------------------------------------------
def _options(out, item, keys, pad):
    """'key value' lines for the keys of item that are set (not none, not empty)."""
    for key in keys:
        value = item.get(key)
        if value is not None:
            text = _text(value)
            if text != '':
                out.append('\n%s%s %s' % (pad, key, text))


def _flags(out, item, keys, pad):
    """Keyword lines for the boolean keys of item that are true."""
    for key in keys:
        value = item.get(key)
        if value is not None and _to_bool(value):
            out.append('\n%s%s' % (pad, key))


def _commands(out, item, keys, pad):
    """Quoted command lines (notify_up, quorum_up, misc_path, ...)."""
    for key in keys:
        value = item.get(key)
        if value:
            out.append('\n%s%s "%s"' % (pad, key, _text(value).replace('"', '\\"')))


def _check_block(out, check, pad):
    inner = pad + '    '
    kind = check.get('type')
    out.append('\n%s%s {' % (pad, _text(kind)))
    if kind in ('HTTP_GET', 'SSL_GET'):
        for url in _as_list(check.get('urls')):
            out.append('\n%surl {' % inner)
            _options(out, url, ('path', 'digest', 'status_code', 'virtualhost'), inner + '    ')
            out.append('\n%s}' % inner)
        _options(out, check, ('virtualhost', 'http_protocol'), inner)
        if kind == 'SSL_GET' and check.get('enable_sni') is not None:
            out.append('\n%senable_sni %s' % (inner, 'true' if _to_bool(check['enable_sni']) else 'false'))
    if kind == 'MISC_CHECK':
        _commands(out, check, ('misc_path',), inner)
        _options(out, check, ('misc_timeout',), inner)
        _flags(out, check, ('misc_dynamic',), inner)
        _options(out, check, ('user',), inner)
    else:
        _options(out, check, ('connect_ip', 'connect_port', 'bindto', 'bind_port', 'connect_timeout', 'retry',
                              'delay_before_retry'), inner)
    _options(out, check, ('delay_loop', 'warmup'), inner)
    for line in _as_list(check.get('extra')):
        out.append('\n%s%s' % (inner, _text(line)))
    out.append('\n%s}' % pad)


def _virtual_server_block(out, vs):
    fwmark = vs.get('fwmark')
    if fwmark is not None:
        out.append('\n\nvirtual_server fwmark %s {' % _text(fwmark))
        _options(out, vs, ('ip_family',), '    ')
    else:
        out.append('\n\nvirtual_server %s %s {' % (_text(vs.get('ip')), _text(vs.get('port'))))
    _options(out, vs, ('delay_loop',), '    ')
    out.append('\n    lb_algo %s' % _text(vs.get('lb_algo') or 'rr'))
    out.append('\n    lb_kind %s' % _text(vs.get('lb_kind') or 'DR'))
    if fwmark is None:
        out.append('\n    protocol %s' % _text(vs.get('protocol') or 'TCP'))
    _options(out, vs, ('persistence_timeout', 'persistence_granularity', 'virtualhost', 'quorum', 'hysteresis'),
             '    ')
    _commands(out, vs, ('quorum_up', 'quorum_down'), '    ')
    _flags(out, vs, ('alpha', 'omega', 'ha_suspend'), '    ')
    sorry = vs.get('sorry_server')
    if sorry:
        out.append('\n    sorry_server %s %s' % (_text(sorry.get('ip')), _text(sorry.get('port'))))
        _flags(out, vs, ('sorry_server_inhibit',), '    ')
    for line in _as_list(vs.get('extra')):
        out.append('\n    %s' % _text(line))
    shared = {}  # id of a checks list -> its text (the lists live as long as vs)
    for rs in _as_list(vs.get('real_servers')):
        port = rs.get('port')
        out.append('\n    real_server %s%s {\n        weight %s' % (
            _text(rs.get('ip')), ' %s' % _text(port) if port is not None else '', _text(rs.get('weight', 1))))
        _flags(out, rs, ('inhibit_on_failure',), '        ')
        _commands(out, rs, ('notify_up', 'notify_down'), '        ')
        checks = rs.get('checks')
        if checks:
            # Real servers without checks of their own share the virtual server's list: render it once.
            text = shared.get(id(checks))
            if text is None:
                block = []
                for check in checks:
                    _check_block(block, check, '        ')
                text = shared[id(checks)] = ''.join(block)
            out.append(text)
        for line in _as_list(rs.get('extra')):
            out.append('\n        %s' % _text(line))
        out.append('\n    }')
    out.append('\n}')


def keepalived_virtual_server_blocks(virtual_servers, groups=None, hostvars=None,
                                     real_ip_var='lvs_dr_realserver_real_ip', weight_var='lvs_dr_realserver_weight'):
    """The virtual_server blocks of keepalived.conf, each after an empty line."""
    with _no_gc():
        checker = _Checker(groups if groups is not None else {}, hostvars, real_ip_var, weight_var)
        resolved = _resolve(checker, virtual_servers)
        if checker.errors:
            raise AnsibleFilterError('keepalived_virtual_server_blocks: invalid virtual servers (see '
                                     'lvs.dr.keepalived_virtual_servers):\n%s' % '\n'.join(checker.errors))
        out = []
        for vs in resolved:
            _virtual_server_block(out, vs)
        return ''.join(out)


class FilterModule(object):
    """keepalived filters of lvs.dr."""

    def filters(self):
        return {
            'keepalived_virtual_servers': keepalived_virtual_servers,
            'keepalived_virtual_server_blocks': keepalived_virtual_server_blocks,
        }
