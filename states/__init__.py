"""The workflow and the policy as data. Imports nothing from ``gdcluster.engine``."""
