# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""Read -> decide -> apply: a module fills a Plan from what it observed and what was asked,
and the Plan is the only place where the host is touched, behind the one check-mode gate."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class Plan(object):
    """An ordered list of changes; the order is the safety order the module decided."""

    def __init__(self, module):
        self.module = module
        self._steps = []

    def add(self, description, func, *args):
        self._steps.append((description, func, args))

    @property
    def changed(self):
        return bool(self._steps)

    @property
    def actions(self):
        """Human-readable steps, returned whether or not they ran (check mode predicts them)."""
        return [description for description, dummy, dummy2 in self._steps]

    def execute(self):
        if self.module.check_mode:
            return
        for dummy, func, args in self._steps:
            func(*args)

    def exit(self, before, after, **result):
        """Apply the plan and exit with changed/actions and, in diff mode, before/after data."""
        self.execute()
        if self.module._diff:
            result['diff'] = dict(before=before, after=after)
        self.module.exit_json(changed=self.changed, actions=self.actions, **result)
