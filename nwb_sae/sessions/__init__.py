"""Many sessions: each fitted as a task on ``dask.distributed`` (``batch``), and what links them.

``batch.py`` runs one fit per session; the cross-session parts (the neuron registry, tracking ensembles
across sessions, the joint multi-session model) live beside it in this package.
"""

from nwb_sae.sessions.batch import (
    SUMMARY_COLUMNS,
    batch,
    dask_client,
    expand_inputs,
    is_complete,
    run_session,
    session_names,
    write_summary,
)
from nwb_sae.sessions.projection import project_template, split_half_ceiling
from nwb_sae.sessions.registry import Registry, RegistryError, unregistered_id
from nwb_sae.sessions.tracking import STATUSES, track_ensembles

__all__ = ["batch", "SUMMARY_COLUMNS", "session_names", "is_complete", "dask_client", "expand_inputs",
           "run_session", "write_summary",
           "Registry", "RegistryError", "unregistered_id", "track_ensembles", "STATUSES",
           "project_template", "split_half_ceiling"]
