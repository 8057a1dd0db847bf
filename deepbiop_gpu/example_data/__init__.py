"""Small real read files shipped with the package (see SOURCES.md beside this file).

Examples
--------
>>> files = example_files()
>>> sorted(files)[:2]
['16S amplicons (HiSeq)', '28S rRNA (NCBI)']
>>> all(path.exists() for path in files.values())
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["example_files", "EXAMPLE_DIR"]

EXAMPLE_DIR = Path(__file__).resolve().parent

_FILES = {
    "lambda phage (ONT)": "lambda_phage_ont.fastq.gz",
    "16S amplicons (HiSeq)": "amplicon_16S_hiseq_R1.fastq.gz",
    "high-GC genome (NovaSeq)": "high_gc_bacterium_novaseq.fastq.gz",
    "human chr17 (HG00100)": "human_chr17_hg00100.bam",
    "28S rRNA (NCBI)": "rRNA_28S_ncbi.fasta.gz",
}


def example_files() -> dict[str, Path]:
    """``{source name: path}`` of the bundled files: one class per file.

    Five formats and platforms: wrapped ONT FASTQ (gz), Illumina FASTQ (gz),
    BAM, and FASTA (gz).
    """
    return {name: EXAMPLE_DIR / fname for name, fname in _FILES.items()}
