"""Search strategies: searchers (evolution, random, optuna) and the pipelines that
`--strategy` picks (random, spos, hierarchical-ea), the run store and run folders.

Torch-free: a space plugin is reached only through archspace's protocol.
"""

from strategies.pipelines import (
    PIPELINES,
    HierarchicalPipeline,
    Pipeline,
    PipelineResult,
    RandomPipeline,
    SposPipeline,
)
from strategies.run import RunConfig, load_config, resume_run, start_run
from strategies.settings import SETTINGS, SearchSettings, get_settings
from strategies.store import RunInUseError, RunStore

__all__ = [
    "PIPELINES",
    "SETTINGS",
    "HierarchicalPipeline",
    "Pipeline",
    "PipelineResult",
    "RandomPipeline",
    "RunConfig",
    "RunInUseError",
    "RunStore",
    "SearchSettings",
    "SposPipeline",
    "get_settings",
    "load_config",
    "resume_run",
    "start_run",
]
