"""Shared helpers: the stage contract, atomic writes, configs, logging, seeding."""

from .atomic import atomic_path, save_manifest_atomic, write_json_atomic, write_text_atomic
from .errors import FairstreamError, StageComplete
from .seeding import derive_seed, rng_state, seed_everything, set_rng_state
from .stage import StageDir, file_digest, is_complete, read_config, require_complete, stage_output

__all__ = [
    "FairstreamError",
    "StageComplete",
    "StageDir",
    "atomic_path",
    "derive_seed",
    "file_digest",
    "is_complete",
    "read_config",
    "require_complete",
    "rng_state",
    "save_manifest_atomic",
    "seed_everything",
    "set_rng_state",
    "stage_output",
    "write_json_atomic",
    "write_text_atomic",
]
