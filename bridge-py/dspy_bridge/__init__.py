"""The Python side of the DSPy subgraph: a ZeroMQ worker that builds and runs DSPy programs.

Entry point: `python -m dspy_bridge.worker` (see worker.py); wire protocol: ../PROTOCOL.md.
"""
