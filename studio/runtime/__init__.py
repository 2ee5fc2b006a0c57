"""Inference runtime: execution providers, model manifests and session pools."""

from studio.runtime.manifest import Manifest, ModelError, TensorSpec
from studio.runtime.pool import PoolStats, SessionPool
from studio.runtime.providers import Machine, ProviderChoice, choose

__all__ = ["Manifest", "ModelError", "TensorSpec", "PoolStats", "SessionPool", "Machine",
           "ProviderChoice", "choose"]
