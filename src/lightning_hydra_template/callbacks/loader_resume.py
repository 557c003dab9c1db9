"""Puts a stateful training loader back at its saved position when Lightning did not.

Lightning stores the training loader's ``state_dict`` in checkpoints and loads it when the fit loop
builds the loader. A ``configure_optimizers`` that reads ``trainer.estimated_stepping_batches`` (e.g.
for a OneCycle schedule) makes Lightning build the loader earlier, before the checkpoint's loop state
is read; the saved position is then never applied and the resumed epoch restarts from its first batch.

Private Lightning API used here (lightning 2.6): ``FitLoop._combined_loader_states_to_load`` (the
states still waiting), ``FitLoop._load_combined_loader_states`` and ``FitLoop._data_fetcher``. No
public hook applies a loader state after the loader is built.
"""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer


class LoaderResume(Callback):
    """At train start, applies loader states the fit loop left unapplied and restarts the iterator.

    Runs before :class:`ExactResume` restores the random generators, so that building the iterator
    again cannot move them.
    """

    applied = False  # whether this run needed the repair (for tests and curious users)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        fit_loop = trainer.fit_loop
        pending = getattr(fit_loop, "_combined_loader_states_to_load", None)
        fetcher = getattr(fit_loop, "_data_fetcher", None)
        if not pending or fetcher is None or not fit_loop.restarting:
            return
        fit_loop._load_combined_loader_states()
        iter(fetcher)  # a fresh iterator that starts from the loaded position
        self.applied = True
