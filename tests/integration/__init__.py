"""Integration tests against real services (SLURM, XRootD) started on 127.0.0.1."""
