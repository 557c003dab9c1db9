from lightning_hydra_template.train import train


# example:digits
def test_train_one_epoch_writes_summary(make_cfg):
    cfg = make_cfg(["data.batch_size=128"])
    summary = train(cfg)
    assert summary["global_step"] == summary["plan"]["total_optimizer_steps"]
    assert 0.0 <= summary["test"]["test/acc"] <= 1.0


# /example:digits
