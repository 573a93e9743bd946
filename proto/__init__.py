"""Humiao's wire protocol: generated message types (``humiao_v1_pb2``), topics, JSON mapping.

Edge and hub share only this package. Regenerate after editing ``humiao_v1.proto`` with
``python -m humiao.proto.generate`` (grpcio-tools, pinned in pyproject.toml); a test fails when the
checked-in generated code differs from a fresh generation.
"""
