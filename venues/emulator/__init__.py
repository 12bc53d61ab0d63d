"""The embedded exchange emulator: a matching engine and simulated market behind real venue protocols."""

from venues.emulator.credentials import AccountSpec
from venues.emulator.server import EmulatorServer

__all__ = ["AccountSpec", "EmulatorServer"]
