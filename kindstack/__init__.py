"""kind clusters on a machine with no registry: Docker's engine, kind, and a node image built here.

No other tool takes anything from kindstack.
"""

__all__: list[str] = []
