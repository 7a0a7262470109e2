"""Reference implementations used as baselines and correctness oracles by ``benchmarks/run.py``."""

from .naive import Firm, NaiveS3Model, ResearchInstitute

__all__ = ["Firm", "NaiveS3Model", "ResearchInstitute"]
