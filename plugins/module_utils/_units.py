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


class Unit(object):
    """A oneshot unit: its file content and the symlinks that enable it.

    required_by: a unit that must not start when this one fails (its .requires symlink, as
    `systemctl enable` makes it from RequiredBy=). Such a unit asserts its config file instead of
    making it a condition: a failed condition skips a unit without failing it."""

    def __init__(self, name, owner, description, config, ordering, service, required_by=None):
        self.name = name
        self.path = os.path.join(UNIT_DIR, name)
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
