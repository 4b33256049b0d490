"""gdcluster — the workflow engine for Guangdong provincial SME characteristic industrial clusters.

The public surface for host systems lives in :mod:`gdcluster.engine`.
"""

__version__ = "0.1.0"
