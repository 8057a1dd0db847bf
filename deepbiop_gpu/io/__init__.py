"""File readers: FASTQ / FASTA / SAM / BAM / CRAM into :class:`~deepbiop_gpu.PackedReads`."""

__all__: list[str] = []
