# ghaec2 developer commands. Builds share a target dir outside the clone, so repeated runs
# on one machine are fast.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ghaec2-target

.PHONY: test lint fmt ci fake dry-run

## test: every test, against moto_server and the in-process fake Actions Service
test:
	scripts/with-moto.sh cargo test --workspace --locked

## lint: formatting and clippy, warnings are errors
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

## ci: what .ci/run runs
ci: lint test

## fake: the standalone fake Actions Service on 127.0.0.1:8080
fake:
	cargo run -p ghaec2-fake -- --port 8080
