"""Benchmarks (#3): the OMS against a do-nothing FIX relay, end to end over loopback.

``relay`` is the baseline process, ``runner`` runs one scenario (broker simulator, system
under test, load client, each in its own process) and ``suite`` runs them all and turns the
results into the table and the JSON line that ``oms bench`` prints; ``profile`` summarises
a py-spy profile of a run. Nothing here is imported by the server.
"""
