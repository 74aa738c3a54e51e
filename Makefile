# The two fresh-machine commands (see README): `make run` and `make test`.
# Both go through scripts/bootstrap.sh, which creates/reuses .venv, installs the pinned
# dependencies (ns-3 wheel, CPU torch, ...) and builds the native parts with CMake.
.PHONY: run test bootstrap bench

bootstrap:
	./scripts/bootstrap.sh

run: bootstrap
	.venv/bin/fedmarl run

test: bootstrap
	.venv/bin/python -m pytest -m "not benchmark"

bench: bootstrap
	.venv/bin/python -m pytest -m benchmark -s
