# Two commands do all the set-up: `make run` (the demo study) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.PHONY: setup run test lint mutate viz viz-build mlflow-ui notebook screenshots bench clean

$(BIN)/kedro: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

setup: $(BIN)/kedro

run: setup          ## the whole study on the embedded demo data set
	$(BIN)/kedro run

test: setup         ## unit tests and one end-to-end study on a tiny configuration
	$(BIN)/python -m pytest

lint: setup         ## style and static checks
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

$(BIN)/mutmut: pyproject.toml
	$(BIN)/python -m pip install -e '.[test,mutation]'
	touch $@

mutate: setup $(BIN)/mutmut  ## mutation score per module (mutation.toml; slow, never in CI); MODULES="metrics pseudo" for some
	$(BIN)/python tools/mutate.py $(MODULES)

viz: setup          ## the pipeline graph in the browser (http://127.0.0.1:4141)
	$(BIN)/kedro viz run --host 127.0.0.1 --no-browser

viz-build: setup    ## a static copy of the graph under build/
	$(BIN)/kedro viz build

mlflow-ui: setup    ## the tracked runs in the browser (http://127.0.0.1:5000)
	@echo "The study's runs: http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port 5000

$(BIN)/jupyter-lab: pyproject.toml
	$(BIN)/python -m pip install -e '.[test,notebook]'
	touch $@

notebook: setup $(BIN)/jupyter-lab  ## JupyterLab with the project's kernel (catalog, context, session loaded)
	$(BIN)/kedro jupyter lab --ip 127.0.0.1 --no-browser

screenshots: setup  ## docs/*.png: the MLflow runs page, its chart view, kedro-viz (after make run; needs chromium)
	$(BIN)/python -m pip install -e '.[test,screenshots]'
	$(BIN)/python tools/screenshots.py

bench: setup        ## wall time of each stage of the demo study
	$(BIN)/python bench/study_timing.py

clean:              ## remove generated data, models, reports and tracking (keeps the venv)
	find data -type f ! -name .gitkeep -delete
	rm -rf mlflow.db mlartifacts info.log
