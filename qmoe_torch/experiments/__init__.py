"""The paper's experiments (arXiv 2512.22296), reproduced through qmoe's public API.

Run ``python -m qmoe_torch.experiments --help``, or ``make demo`` for phases 1, 2, 3A and 3B
at the paper's sizes with 10 seeds. What each phase trains is in :mod:`.phases`; the data
in :mod:`.data`; the models (``QuantumGate`` / ``LinearGate`` / ``MLPGate`` routers in a
``MoE`` with two ``nn.Linear(2, 2)`` experts) in :mod:`.models`; the training loop in
:mod:`.training`; figures and the ``results.md`` table in :mod:`.figures` and
:mod:`.report`; the paired-by-seed comparisons and their 95% intervals in
:mod:`.comparisons` and :mod:`.stats`; whether their readings survive other rounding
(``compare``) in :mod:`.rounding`. ``lm`` (``make experiment-lm``) trains a small MoE
language model with each router: :mod:`.lm_corpus`, :mod:`.lm_model`,
:mod:`.lm_training`, :mod:`.lm_pipeline`, :mod:`.lm_figures`. Needs scikit-learn (and
with it scipy) and matplotlib (``requirements-demo.txt``); tqdm for the progress bar.
"""

from .phases import PHASES, PRESETS, Job, PhaseSettings, jobs_for_phase
from .runner import Runner, run_job

__all__ = ["PHASES", "PRESETS", "Job", "PhaseSettings", "Runner", "jobs_for_phase", "run_job"]
