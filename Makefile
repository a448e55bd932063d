# The whole set-up is `make run` (demo) and `make test` (suite). Python 3.11 is all it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PORT ?= 8000

.PHONY: install run test lint format clean serve worker beat run-cluster

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	bin/run-demo

# Production processes (docs/DEPLOY.md): the web server, a Celery worker, the one beat.
serve: install
	bin/serve

worker: install
	bin/worker

beat: install
	bin/beat

# 2 web processes, 2 workers and 1 beat on PostgreSQL and Redis (DATABASE_URL, REDIS_URL).
run-cluster: install
	bin/run-cluster

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var .pytest_cache
