"""Many processes and many jobs: DDP launching, SLURM, sweep job status and sweep reports."""
