"""This host's free memory, as the kernel estimates it (no psutil in the portal's image)."""

from __future__ import annotations

import os

MEMINFO = "/proc/meminfo"


def memory_available(meminfo: str = MEMINFO) -> int:
    """Bytes that can be given to new processes without swapping (``MemAvailable``); where
    the kernel says nothing, the free pages."""
    try:
        with open(meminfo, encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
