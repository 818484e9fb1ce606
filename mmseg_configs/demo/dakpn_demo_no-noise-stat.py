# Ablation row (issue 10): the demo recipe without its per-class noise
# statistic (loss_weights.stats_noise), i.e. the recipe before 2026-12-01.
# Without it the texture pair (fine and coarse gradient strength) cannot
# tell "a little less blur and more noise" from the right mix on a camera
# with mild blur and almost no sensor noise: on the zoo's mild camera 2 of 3
# seeds added 2x its noise (whole image 49% +- 40 of the gap closed, 93% +- 1
# with the statistic). Zoo row: `tools/benchmark_zoo.py --methods
# dakpn-no-noise-stat`.
_base_ = ['./dakpn_demo.py']

model = dict(loss_weights=dict(stats_noise=0.0))
