# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""Boot-time systemd units the modules own. A unit is enabled by its WantedBy symlink, written
directly: that works on a running system, in an image being built and in a container without
systemd alike, and a unit only has to be read at the next boot."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

UNIT_DIR = '/etc/systemd/system'
WANTED_BY = 'multi-user.target'

UNIT_TEMPLATE = """\
# Managed by the lvs.dr Ansible collection ({owner}); changes here are overwritten.
[Unit]
Description={description}
DefaultDependencies=no
{ordering}
ConditionPathExists={config}

[Service]
Type=oneshot
RemainAfterExit=yes
{service}

[Install]
WantedBy={wanted_by}
"""


class Unit(object):
    """A oneshot unit: its file content and the symlink that enables it."""

    def __init__(self, name, owner, description, config, ordering, service):
        self.name = name
        self.path = os.path.join(UNIT_DIR, name)
        self.link = os.path.join(UNIT_DIR, WANTED_BY + '.wants', name)
        self.content = UNIT_TEMPLATE.format(owner=owner, description=description, config=config,
                                            ordering=ordering.strip(), service=service.strip(),
                                            wanted_by=WANTED_BY)

    def installed(self, system):
        """True when the file has exactly our content and the enabling symlink exists."""
        return system.read(self.path) == self.content and system.exists(self.link)

    def present(self, system):
        return system.exists(self.path) or system.exists(self.link)

    def install(self, system):
        system.write(self.path, self.content)
        system.symlink(self.path, self.link)

    def remove(self, system):
        system.remove(self.link)
        system.remove(self.path)
