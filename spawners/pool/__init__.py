"""The engine side of warm pools: make, watch and remove pool slots (lib/pools.py). No
Django: the portal's pool service decides how many, these adapters act on the engine."""
