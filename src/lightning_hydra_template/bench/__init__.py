"""``make bench``: the template's overhead, data loading and start-up, measured against plain PyTorch.

python -m lightning_hydra_template.bench            # full mode (minutes)
python -m lightning_hydra_template.bench --quick    # a few seconds: checks that it runs, sane numbers
"""
