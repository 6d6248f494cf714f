"""ThinkPrune's shared core: what training, evaluation, model cards and the demo all need.

The layers go one way: `thinkprune` (this package) at the bottom; `train/`, `eval/`, `model_cards/` and `demo/`
above it (`demo` may use `eval`, `train` may use `model_cards` to publish); `scripts/` on top. `make quality` checks
the rule (import-linter contracts in pyproject.toml).
"""
