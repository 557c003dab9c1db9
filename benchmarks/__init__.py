"""``make bench``: the template's overhead, data loading and start-up, measured against plain PyTorch.

python -m benchmarks            # full mode (minutes)
python -m benchmarks --quick    # a few seconds: checks that it runs, sane numbers
"""
