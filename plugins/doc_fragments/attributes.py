# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # Attributes every lvs.dr module shares: full check and diff mode, idempotent, Linux only.
    DOCUMENTATION = r'''
options: {}
notes:
  - Runs on one host take turns. From its first read to its exit every lvs.dr module holds an exclusive lock on
    C(/run/lvs-dr.lock) (flock), so two plays or job templates converging the same host at once never decide from
    the same state; a run waits up to 300 seconds for the lock, then fails without changing anything.
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: full
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
'''
