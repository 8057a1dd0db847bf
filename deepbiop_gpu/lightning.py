"""``SequenceDataModule``: reads files -> Lightning train / val / test / predict loaders.

Batches are collated on the CPU (in DataLoader workers) as byte tensors;
Lightning moves them to the accelerator and the data module's transforms
(augmentations, encoders: a :class:`~deepbiop_gpu.Compose`) run there, in
:meth:`SequenceDataModule.on_after_batch_transfer`, so the GPU does the
encoding and the workers never touch CUDA.

Needs the optional dependency lightning (``pip install 'deepbiop-gpu[lightning]'``);
``pytorch_lightning`` works too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .data.dataset import Dataset, Subset
from .data.labels import LabelSpec
from .data.loader import DataLoader
from .data.prefetch import apply_transform

__all__ = ["SequenceDataModule", "split_indices"]

PathLike = str | os.PathLike

try:  # pragma: no cover - which one is installed varies
    import lightning.pytorch as _pl
except ImportError:  # pragma: no cover
    try:
        import pytorch_lightning as _pl
    except ImportError:
        _pl = None

_MISSING = (
    "deepbiop_gpu.lightning.SequenceDataModule needs Lightning, which is not installed: "
    "pip install 'deepbiop-gpu[lightning]' (or pip install lightning)"
)


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[torch.Tensor]:
    """Split ``range(n)`` at random into parts of the given fractions plus the rest.

    The permutation depends only on ``(n, seed)``; part sizes are
    ``round(fraction * n)``.  Returns ``[rest, part_1, part_2, ...]``, each an
    ``int64`` tensor of sorted indices.

    Examples
    --------
    >>> rest, val = split_indices(10, [0.2], seed=0)
    >>> len(rest), len(val), sorted(rest.tolist() + val.tolist()) == list(range(10))
    (8, 2, True)
    """
    if any(not 0 <= f < 1 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(
            f"split fractions must lie in [0, 1) and sum to less than 1, got {list(fractions)}"
        )
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    sizes = [int(round(f * n)) for f in fractions]
    parts = []
    start = 0
    for size in sizes:
        parts.append(perm[start : start + size].sort().values)
        start += size
    return [perm[start:].sort().values, *parts]


if _pl is None:

    class SequenceDataModule:  # type: ignore[no-redef]
        """Placeholder: Lightning is not installed (instantiating raises ImportError)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(_MISSING)

else:

    class SequenceDataModule(_pl.LightningDataModule):  # type: ignore[no-redef, misc]
        """Train / val / test / predict loaders over reads files, transforms on the device.

        Parameters
        ----------
        train, val, test, predict : path, list of paths or Dataset, optional
            Reads files (any format :func:`deepbiop_gpu.read` accepts) or
            ready datasets (e.g. :meth:`Cache.load <deepbiop_gpu.cache.Cache.load>`).
        labels : optional
            ``labels=`` of :class:`~deepbiop_gpu.Dataset`, used for every split
            given as paths (one label per file must then match each split's files;
            pass Dataset objects for anything more special).
        val_fraction, test_fraction : float
            Carve seeded random validation / test splits out of ``train`` (when
            ``val`` / ``test`` are not given).
        split_seed : int
            Seeds the split (the same seed gives the same split everywhere).
        batch_size, num_workers, shuffle, seed, drop_last
            For the :class:`~deepbiop_gpu.DataLoader` s (``shuffle`` applies to
            training only; ``seed`` keys the shuffle order).
        transform : callable, optional
            Batch transform run on the device after Lightning moved the batch
            (``on_after_batch_transfer``) during training.
        eval_transform : callable, optional
            Transform for validation / test / predict batches (default:
            ``transform``; pass e.g. just the encoder to skip augmentations).
        cache_dir : path, optional
            Cache parsed reads here (``Dataset(..., cache_dir=...)``).
        quality_offset : int
        loader_kwargs : dict, optional
            More :class:`~deepbiop_gpu.DataLoader` arguments (``collate_fn``,
            ``persistent_workers``, ...).

        Examples
        --------
        >>> from deepbiop_gpu import Compose, Mutator, OneHotEncoder
        >>> dm = SequenceDataModule(
        ...     train=["ecoli.fastq.gz", "phage.fastq.gz"], labels=["E. coli", "phage"],
        ...     val_fraction=0.1, batch_size=256, num_workers=4,
        ...     transform=Compose([Mutator(0.01), OneHotEncoder()]), eval_transform=OneHotEncoder(),
        ... )  # doctest: +SKIP
        >>> trainer.fit(model, datamodule=dm)  # doctest: +SKIP
        """

        def __init__(
            self,
            train: PathLike | Sequence[PathLike] | Dataset | None = None,
            val: PathLike | Sequence[PathLike] | Dataset | None = None,
            test: PathLike | Sequence[PathLike] | Dataset | None = None,
            predict: PathLike | Sequence[PathLike] | Dataset | None = None,
            *,
            labels: LabelSpec | None = None,
            val_fraction: float = 0.0,
            test_fraction: float = 0.0,
            split_seed: int = 0,
            batch_size: int = 64,
            num_workers: int = 0,
            shuffle: bool = True,
            seed: int = 0,
            drop_last: bool = False,
            transform: Callable | None = None,
            eval_transform: Callable | None = None,
            cache_dir: PathLike | None = None,
            quality_offset: int = 33,
            loader_kwargs: dict[str, Any] | None = None,
        ) -> None:
            super().__init__()
            if train is None and val is None and test is None and predict is None:
                raise ValueError("give at least one of train, val, test or predict")
            if (val_fraction or test_fraction) and train is None:
                raise ValueError("val_fraction / test_fraction split the train files: give train")
            if val is not None and val_fraction:
                raise ValueError("give either val or val_fraction, not both")
            if test is not None and test_fraction:
                raise ValueError("give either test or test_fraction, not both")
            split_indices(1, [val_fraction, test_fraction], 0)  # checks the fractions
            self.sources = {"train": train, "val": val, "test": test, "predict": predict}
            self.labels = labels
            self.val_fraction, self.test_fraction, self.split_seed = (
                val_fraction,
                test_fraction,
                split_seed,
            )
            self.batch_size, self.num_workers = batch_size, num_workers
            self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
            self.transform = transform
            self.eval_transform = eval_transform if eval_transform is not None else transform
            self.cache_dir, self.quality_offset = cache_dir, quality_offset
            self.loader_kwargs = dict(loader_kwargs or {})
            self.datasets: dict[str, torch.utils.data.Dataset] = {}
            self.classes: list[str] | None = None
            self.split: dict[str, torch.Tensor] = {}

        # ------------------------------------------------------------ data
        def _dataset(self, source: Any) -> Dataset:
            if isinstance(source, torch.utils.data.Dataset):
                return source  # type: ignore[return-value]
            return Dataset(
                source,
                labels=self.labels,
                quality_offset=self.quality_offset,
                cache_dir=self.cache_dir,
            )

        def setup(self, stage: str | None = None) -> None:
            """Read (or open the caches of) the files and make the splits; idempotent."""
            if self.datasets:
                return
            for name, source in self.sources.items():
                if source is not None:
                    self.datasets[name] = self._dataset(source)
            train = self.datasets.get("train")
            if train is not None:
                self.classes = getattr(train, "classes", None)
                if self.val_fraction or self.test_fraction:
                    rest, val, test = split_indices(
                        len(train), [self.val_fraction, self.test_fraction], self.split_seed
                    )
                    self.split = {"train": rest, "val": val, "test": test}
                    # our Subset keeps parent indices (they key the random transforms) and
                    # fetches whole batches; torch's for any other dataset
                    subset = Subset if isinstance(train, Dataset) else torch.utils.data.Subset
                    self.datasets["train"] = subset(train, rest.tolist())
                    if self.val_fraction:
                        self.datasets["val"] = subset(train, val.tolist())
                    if self.test_fraction:
                        self.datasets["test"] = subset(train, test.tolist())

        def _loader(self, name: str, train: bool) -> DataLoader:
            if name not in self.datasets:
                self.setup()
            if name not in self.datasets:
                raise ValueError(f"no {name} data: give {name}= (or a {name}_fraction of train)")
            return DataLoader(
                self.datasets[name],
                batch_size=self.batch_size,
                shuffle=self.shuffle and train,
                num_workers=self.num_workers,
                seed=self.seed,
                drop_last=self.drop_last and train,
                **self.loader_kwargs,
            )

        def train_dataloader(self) -> DataLoader:
            """Shuffled (by ``seed`` and epoch) batches of byte tensors, collated on the CPU."""
            return self._loader("train", True)

        def val_dataloader(self) -> DataLoader:
            """Validation batches in file order."""
            return self._loader("val", False)

        def test_dataloader(self) -> DataLoader:
            """Test batches in file order."""
            return self._loader("test", False)

        def predict_dataloader(self) -> DataLoader:
            """Prediction batches in file order."""
            return self._loader("predict", False)

        # ---------------------------------------------------- on the device
        def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            """Run the transform on the device the batch was moved to."""
            trainer = getattr(self, "trainer", None)
            training = bool(trainer is not None and trainer.training)
            transform = self.transform if training else self.eval_transform
            epoch = trainer.current_epoch if trainer is not None else 0
            if isinstance(batch, dict) and "epoch" not in batch:
                batch["epoch"] = epoch
            if transform is None:
                return batch
            device = _batch_device(batch)
            if isinstance(transform, torch.nn.Module) and device is not None:
                transform.to(device)
            return apply_transform(transform, batch, epoch)

        @property
        def num_classes(self) -> int | None:
            """Number of classes of the train labels (string labels), after :meth:`setup`."""
            return None if self.classes is None else len(self.classes)


def _batch_device(batch: Any) -> torch.device | None:
    if isinstance(batch, dict):
        for v in batch.values():
            d = _batch_device(v)
            if d is not None:
                return d
    if isinstance(batch, torch.Tensor):
        return batch.device
    return None
