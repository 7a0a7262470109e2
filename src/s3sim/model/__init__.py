"""Model layer: struct-of-arrays state, thin Mesa agents and one module per ODD submodel."""

from .agents import ClusterOrganisation, Firm, RegionalAuthority, ResearchInstitute
from .model import S3Model

__all__ = ["S3Model", "Firm", "ResearchInstitute", "ClusterOrganisation", "RegionalAuthority"]
