# `make test` and `make demo` work from a fresh clone with nothing installed:
# they create .venv, install the pinned dependencies and the package, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.dakpn-installed
DEMO_OUT ?= work_dirs/demo
PYTEST_ARGS ?=
# Test files on two pytest-xdist workers side by side, each with its share of
# the cores (tests/conftest.py): the 2-core CI machine idles a third of a
# serial run (subprocess start-ups, file I/O). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2

.PHONY: install test demo benchmark benchmark-downstream benchmark-uda benchmark-zoo install-full-mmcv clean

install: $(STAMP)

$(STAMP): requirements/base.txt requirements/test.txt setup.cfg setup.py pyproject.toml dakpn_aug/compat/mmcv_ops_startup.pth
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed (the pinned numpy 2.4 needs it)"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check 'pip>=24,<26'
	$(PIP) install --quiet --disable-pip-version-check -r requirements/test.txt
	$(PIP) install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	$(PY) -c 'from dakpn_aug.compat.mmcv_ops import install_startup_hook as h; print("mmcv-lite startup hook:", h())'
	$(PY) -c 'import dakpn_aug.mmseg, albumentations; print("dakpn-aug installed:", dakpn_aug.__version__)'
	touch $(STAMP)

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: install
	$(PY) tools/demo.py --out $(DEMO_OUT)

benchmark: install
	$(PY) tools/benchmark_speed.py

# Long (~100 minutes on 2 CPU cores, resumable): needs `make demo` first.
# Writes work_dirs/downstream_benchmark/downstream.{md,json,png}.
benchmark-downstream: install
	$(PY) tools/benchmark_downstream.py --ablations

# Long (~5 hours on 2 CPU cores with --jobs 2, resumable; measured in part,
# see README "Stage 2 > Benchmark"): every stage-2 row on the demo data,
# 3 seeds; needs `make demo` first. Writes
# work_dirs/uda_benchmark/downstream.{md,json,png}. A run too long for one
# sitting continues elsewhere from its records:
#   make benchmark-uda REUSE=docs/benchmarks/uda_demo.json
UDA_ROWS = source-only,target-only,photometric,dakpn,adversarial,dakpn+adversarial,self-training,dakpn+self-training,cycle-association,dakpn+cycle-association,global-local,dakpn+global-local,symmetric,symmetric-single
REUSE ?=
benchmark-uda: install
	$(PY) tools/benchmark_downstream.py --out work_dirs/uda_benchmark --jobs 2 \
	  --methods $(UDA_ROWS) $(if $(REUSE),--reuse $(REUSE))

# Long (54-97 minutes measured on 2 CPU cores, resumable): the one demo recipe on
# every camera of the zoo, 3 seeds, beside the albumentations peers.
# Writes work_dirs/zoo/zoo.{md,json,png}.
benchmark-zoo: install
	$(PY) tools/benchmark_zoo.py --out work_dirs/zoo

# Opt-in: build full mmcv 2.1.0 (compiled ops) from source, ~25 min on 2
# cores, and use it instead of mmcv-lite. The mmcv.ops stand-in switches
# itself off when mmcv._ext is importable.
install-full-mmcv: install
	$(PIP) install --quiet ninja
	MMCV_WITH_OPS=1 $(PIP) wheel --no-build-isolation --no-deps -w $(VENV)/wheels mmcv==2.1.0
	$(PIP) uninstall -y mmcv-lite
	$(PIP) install --no-deps $(VENV)/wheels/mmcv-2.1.0-*.whl
	$(PY) -c 'import mmcv.ops, mmcv._ext; print("full mmcv with compiled ops")'

clean:
	rm -rf $(VENV) work_dirs .pytest_cache
