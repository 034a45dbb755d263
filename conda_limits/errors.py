"""The base error of conda-limits' conda-free core.

Every exception the core raises on purpose (a bad value, a broken record or file, a command
that cannot run) derives from :class:`LimitsError`; the conda glue turns it into conda's own
error report in one place (``cli/exceptions.py``). This module imports nothing.
"""

from __future__ import annotations


class LimitsError(Exception):
    """A problem the core reports to the user: the message says what is wrong, in one line or
    a few, without a traceback."""
