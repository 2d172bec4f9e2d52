# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""Boot-time systemd units the modules own. A unit is enabled by its WantedBy (and RequiredBy)
symlinks, written directly: that works on a running system, in an image being built and in a
container without systemd alike, and a unit only has to be read at the next boot."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
from shlex import quote as shlex_quote

UNIT_DIR = '/etc/systemd/system'
WANTED_BY = 'multi-user.target'
VIPS_UNIT = 'lvs-dr-vips.service'


def requires_dir(unit):
    """Where `systemctl enable` puts the links of the units that `unit` requires (RequiredBy=)."""
    return os.path.join(UNIT_DIR, unit + '.requires')


UNIT_TEMPLATE = """\
# Managed by the lvs.dr Ansible collection ({owner}); changes here are overwritten.
[Unit]
Description={description}
DefaultDependencies=no
{ordering}
{config_check}={config}

[Service]
Type=oneshot
RemainAfterExit=yes
{service}

[Install]
{install}
"""


def mark(owner):
    """The first line of every file a module writes for boot (units, the VIPs' guard): the mark by which it
    knows the file as its own, and rewrites or removes nothing else."""
    return UNIT_TEMPLATE.splitlines()[0].format(owner=owner)


class Unit(object):
    """A oneshot unit: its file content and the symlinks that enable it.

    required_by: a unit that must not start when this one fails (its .requires symlink, as
    `systemctl enable` makes it from RequiredBy=). Such a unit asserts its config file instead of
    making it a condition: a failed condition skips a unit without failing it."""

    def __init__(self, name, owner, description, config, ordering, service, required_by=None):
        self.name = name
        self.path = os.path.join(UNIT_DIR, name)
        self.mark = mark(owner)
        # The binding first: a run cut short between the links leaves the unit bound, not only enabled.
        self.links, install = [], ['WantedBy=' + WANTED_BY]
        if required_by:
            self.links.append(os.path.join(requires_dir(required_by), name))
            install.append('RequiredBy=' + required_by)
        self.links.append(os.path.join(UNIT_DIR, WANTED_BY + '.wants', name))
        self.content = UNIT_TEMPLATE.format(owner=owner, description=description, config=config,
                                            config_check='AssertPathExists' if required_by else 'ConditionPathExists',
                                            ordering=ordering.strip(), service=service.strip(),
                                            install='\n'.join(install))

    def ours(self, text):
        """True when a unit file's text carries the owner's mark (the only unit file it may rewrite or remove)."""
        return text.startswith(self.mark + '\n')

    def installed(self, system):
        """True when the file has exactly our content and every enabling symlink exists."""
        return system.read(self.path) == self.content and all(system.exists(link) for link in self.links)

    def present(self, system):
        return any(system.exists(path) for path in [self.path] + self.links)

    def install(self, system):
        system.write(self.path, self.content)
        for link in self.links:
            system.symlink(self.path, link)

    def remove(self, system):
        for link in reversed(self.links):
            system.remove(link)
        system.remove(self.path)


# The VIPs' boot guard: lvs-dr-vips.service runs it (ExecStartPre=) and adds no VIP unless it succeeds.
VIPS_GUARD = '/etc/lvs-dr/vips-guard.sh'
# POSIX sh (dash, bash), with the boot record as $1; vips_guard() fills in @SKIP@ and @FACING@.
GUARD_TEMPLATE = r"""%s
# Run by lvs-dr-vips.service before it restores the VIPs of the boot record ($1). It fails, and so
# keeps every VIP down, unless ARP for each IPv4 VIP of the record is suppressed by the rule lvs_vip
# applies when it adds one: arptables DROP (INPUT) and mangle (OUTPUT) rules for the VIP, or on every
# interface facing the segment max(all, interface) arp_ignore 1, 2 or 8 and arp_announce exactly 2,
# the interface holding the VIP not among them. IPv6 VIPs need nothing (neighbour discovery answers
# only on the interface holding the address). Why it failed: systemctl status lvs-dr-vips.service.
conf=/proc/sys/net/ipv4/conf
[ -r "$1" ] || { echo "lvs-dr-vips: cannot read the boot record $1" >&2; exit 1; }
all_ignore=$(cat "$conf/all/arp_ignore") && all_announce=$(cat "$conf/all/arp_announce") || exit 1
listing=$(arptables -L -n 2>/dev/null) || listing=

# $1: the VIP. The rules as lvs_arp_suppress adds them, each alone on its line of arptables -L -n.
by_arptables() {
    printf '%%s\n' "$listing" | awk -v vip="$1" '
        $1 == "Chain" { chain = $2; next }
        NF >= 4 { sub(/\/32$/, "", $4) }
        chain ~ /^(INPUT|IN)$/ && NF == 4 && $1 $2 $3 == "-jDROP-d" && $4 == vip { drop = 1 }
        chain ~ /^(OUTPUT|OUT)$/ && NF == 6 && $1 $2 $3 $5 == "-jmangle-s--mangle-ip-s" && $4 == vip && $6 != vip {
            mangle = 1
        }
        END { exit !(drop && mangle) }'
}

# $1: the interface holding the VIP; then the directories of the interfaces facing the segment.
by_sysctl() {
    holder=$1
    shift
    for dir in "$@"; do
        name=${dir##*/}
@SKIP@
        why="$name holds the VIP itself, where only arptables rules keep ARP off it"
        [ "$name" != "$holder" ] || return 1
        why="$name does not exist"
        ignore=$(cat "$dir/arp_ignore" 2>/dev/null) && announce=$(cat "$dir/arp_announce" 2>/dev/null) || return 1
        [ "$ignore" -ge "$all_ignore" ] || ignore=$all_ignore
        [ "$announce" -ge "$all_announce" ] || announce=$all_announce
        why="$name has effective arp_ignore=$ignore, arp_announce=$announce"
        case $ignore in 1|2|8) ;; *) return 1 ;; esac
        [ "$announce" = 2 ] || return 1
    done
}

status=0
while read -r verb action address dev holder rest; do
    [ "$verb $action $dev" = "address replace dev" ] || continue
    case $address in *:*) continue ;; esac
    vip=${address%%/*}
    by_arptables "$vip" && continue
    by_sysctl "$holder" @FACING@ && continue
    echo "lvs-dr-vips: ARP for VIP $vip is not suppressed ($why; no arptables DROP and mangle rules" \
        "for it either): no VIP is restored." >&2
    status=1
done < "$1"
exit $status
"""


def vips_guard(owner, interfaces=None):
    """The guard's text. interfaces: the names facing the segment (lvs_vip's arp_interfaces), quoted for
    the shell; None: every interface but lo, as /proc lists them when the unit runs."""
    if interfaces is None:
        skip, facing = '        case $name in lo|all|default) continue ;; esac\n', '"$conf"/*'
    else:
        skip, facing = '', ' '.join('"$conf"/%s' % shlex_quote(name) for name in interfaces)
    return (GUARD_TEMPLATE % mark(owner)).replace('@SKIP@\n', skip).replace('@FACING@', facing)
