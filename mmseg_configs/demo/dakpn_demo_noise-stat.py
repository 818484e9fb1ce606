# Switch (issue 10, opt-in until measured on every camera): the demo recipe
# plus a per-class noise statistic (Immerkaer's estimate over class
# interiors, the estimator of tools/domain_gap.py; models/stats_loss.py).
# Why: the texture pair (fine and coarse gradient strength) cannot tell "a
# little less blur and more noise" from the right mix on a camera with mild
# blur and almost no sensor noise (the zoo's mild camera: 2 of 3 seeds add
# 2x its noise). Zoo row: `tools/benchmark_zoo.py --methods dakpn-noise-stat`.
_base_ = ['./dakpn_demo.py']

model = dict(loss_weights=dict(stats_noise=1.0))
