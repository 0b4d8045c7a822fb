# ghaec2 developer commands. Builds share a target dir outside the clone, so repeated runs
# on one machine are fast.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ghaec2-target
# The pinned tools of requirements-dev.txt (moto, cfn-lint, SAM CLI, cargo-lambda + zig), in one
# venv outside the clone; scripts/venv.sh creates or refreshes it and prints its path.
VENV_BIN = "$$(scripts/venv.sh)/bin"
# SAM's build output, outside the clone too.
SAM_DIR ?= $(HOME)/.cache/ghaec2-sam
# Offline SAM: no telemetry calls.
export SAM_CLI_TELEMETRY = 0
# Which deployed function `deploy-cargo-lambda` updates: the stack's, unless given.
STACK ?= ghaec2
FUNCTION ?=

.PHONY: demo bench bench-check test lint fmt ci fake dry-run validate build watch invoke invoke-roundtrip deploy deploy-cargo-lambda destroy status fuzz

## demo: ghaec2 end to end on this machine, no GitHub or AWS account: moto_server, the fake
## Actions Service, ghaec2 (continuous), a workload and a runner simulator, with a live view, a
## summary and a report in target/demo/. Ends non-zero if a job was not completed.
demo:
	cargo build --locked -p ghaec2 --bin ghaec2 -p ghaec2-demo --bin demo
	scripts/with-moto.sh $(CARGO_TARGET_DIR)/debug/demo --ghaec2 $(CARGO_TARGET_DIR)/debug/ghaec2

## bench: the measured scenarios against the stand-ins, with the release build; writes
## BENCHMARKS.md (a release build takes about 20 minutes cold on 2 cores)
bench:
	cargo build --locked --release -p ghaec2 --bin ghaec2 -p ghaec2-demo --bin bench
	scripts/with-moto.sh $(CARGO_TARGET_DIR)/release/bench --ghaec2 $(CARGO_TARGET_DIR)/release/ghaec2

## bench-check: fails when BENCHMARKS.md measured an older src/cycle or src/aws than HEAD's
## (scripts/bench-stale.sh reads git history only); a release is not cut on stale figures
bench-check:
	@scripts/bench-stale.sh

## test: every test, against moto_server and the in-process fake Actions Service; then a
## warning naming the commits if BENCHMARKS.md measured an older src/cycle or src/aws
test:
	@scripts/with-moto.sh cargo test --workspace --locked; status=$$?; \
	scripts/bench-stale.sh --warn; exit $$status

## lint: formatting and clippy, warnings are errors
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

## fuzz: tests/fuzz_parsing.rs with FUZZ_TOTAL inputs (default one million) split evenly over
## its fuzz_* targets (PROPTEST_CASES each); prints the cases per target, the total and the
## time. Debug build, FUZZ_THREADS (2) threads: 40 minutes wall, 21 of CPU, on 2 shared
## cores. `make test` runs 256 each (about 3 s).
FUZZ_TOTAL ?= 1000000
FUZZ_THREADS ?= 2
fuzz:
	@set -e; cargo test --locked --test fuzz_parsing --no-run; \
	targets=$$(cargo test --locked --test fuzz_parsing -- --list 2>/dev/null | grep -c '^fuzz_.*: test$$'); \
	cases=$$(( ($(FUZZ_TOTAL) + targets - 1) / targets )); \
	echo "fuzz: $$targets targets, $$cases cases each"; \
	log=$$(mktemp); start=$$(date +%s); status=0; \
	PROPTEST_CASES=$$cases cargo test --locked --test fuzz_parsing -- --nocapture \
	  --test-threads=$(FUZZ_THREADS) >"$$log" 2>&1 || status=$$?; \
	awk '/^fuzz-cases/ { printf "  %-36s %9d\n", $$2, $$3; total += $$3 } \
	  END { printf "  %-36s %9d\n", "total", total }' "$$log"; \
	echo "fuzz: $$(( $$(date +%s) - start )) s, exit $$status (log: $$log)"; \
	if [ $$status -ne 0 ]; then grep -v '^fuzz-cases' "$$log" | tail -80; fi; \
	exit $$status

## ci: what .ci/run runs (invoke-roundtrip: about 20 s warm)
ci: lint validate test invoke-roundtrip

## fake: the standalone fake Actions Service on 127.0.0.1:8080
fake:
	cargo run -p ghaec2-fake -- --port 8080

## validate: template.yaml through cfn-lint, `sam validate --lint`, the IAM review, and the
## dashboard and alarms against the metrics and log fields src/ emits (offline)
validate:
	@bin=$(VENV_BIN); set -e; \
	echo "cfn-lint template.yaml"; "$$bin/cfn-lint" template.yaml; \
	"$$bin/sam" validate --lint --region us-east-1 --template-file template.yaml; \
	"$$bin/python" scripts/check-template.py; \
	"$$bin/python" scripts/check-dashboard.py

## build: the Lambda artifact, as `sam build` builds it ($(CARGO_TARGET_DIR)/lambda/ghaec2/bootstrap).
## About 10 minutes cold on 2 cores, about a minute incremental; not part of `ci`.
build:
	@bin=$(VENV_BIN); PATH="$$bin:$$PATH" cargo lambda build --release --arm64 --bin ghaec2

## watch: the Lambda handler under `cargo lambda watch` (debug, native) against the stand-ins,
## with a short drain window; send events from another shell with `make invoke`. Ctrl-C stops
## the watcher, moto and the fake.
watch:
	@bin=$(VENV_BIN); PATH="$$bin:$$PATH" DRAIN_WINDOW_SECONDS=$${DRAIN_WINDOW_SECONDS:-5} \
	  scripts/stand-ins.sh cargo lambda watch --bin ghaec2

## invoke: sends EVENT (default events/scheduled.json) to the running `make watch`
EVENT ?= events/scheduled.json
invoke:
	@bin=$(VENV_BIN); PATH="$$bin:$$PATH" cargo lambda invoke ghaec2 --data-file $(EVENT)

## invoke-roundtrip: stand-ins + cargo lambda watch + every events/*.json + checks, in one go,
## with one scale set and then with two (SCALE_SETS); the one test of src/main.rs's Lambda path
## (runtime API, start-up, handler, response)
invoke-roundtrip:
	scripts/invoke-roundtrip.sh

## deploy: sam build (cargo-lambda, arm64) then sam deploy with samconfig.toml
deploy:
	@bin=$(VENV_BIN); set -e; export PATH="$$bin:$$PATH"; \
	sam build --build-dir $(SAM_DIR)/build --cache-dir $(SAM_DIR)/cache; \
	sam deploy --template-file $(SAM_DIR)/build/template.yaml

## destroy: takes the deployed stack STACK down (scripts/destroy.sh): stops its schedule, runs
## `ghaec2 --teardown` with the function's configuration and your credentials, then `sam delete`.
## DRY_RUN=1 lists the changing calls only; TEARDOWN_FLAGS passes flags, e.g.
## TEARDOWN_FLAGS="--busy-wait-seconds 3600". See README "Tear down".
destroy:
	@bin=$(VENV_BIN); PATH="$$bin:$$PATH" STACK=$(STACK) \
	  scripts/destroy.sh $(if $(DRY_RUN),--dry-run) $(TEARDOWN_FLAGS)

## status: `ghaec2 --status` for the deployed stack STACK (scripts/status.sh): read-only, with
## the function's configuration and your AWS credentials; JSON=1 for `--json`. See README
## "Troubleshooting".
status:
	@bin=$(VENV_BIN); PATH="$$bin:$$PATH" STACK=$(STACK) scripts/status.sh $(if $(JSON),--json)

## deploy-cargo-lambda: replaces only the code of the stack's function (FUNCTION, default: the
## FunctionName output of STACK) with `make build`'s artifact. Configuration, table, roles and
## schedule stay as the stack made them; the next `make deploy` puts the stack's code back.
deploy-cargo-lambda: build
	@bin=$(VENV_BIN); set -e; export PATH="$$bin:$$PATH"; \
	function="$(FUNCTION)"; \
	if [ -z "$$function" ]; then \
	  function="$$(sam list stack-outputs --stack-name $(STACK) --output json \
	    | python3 -c 'import json,sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "FunctionName"))')"; \
	fi; \
	echo "cargo lambda deploy $$function"; \
	cargo lambda deploy --binary-name ghaec2 --lambda-dir $(CARGO_TARGET_DIR)/lambda "$$function"
