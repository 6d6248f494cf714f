.PHONY: test test-fast style quality toy

check_dirs := train eval demo model_cards scripts tests app.py

test:
	python -m pytest tests

test-fast:
	python -m pytest tests -m "not slow"

style:
	ruff format $(check_dirs)
	ruff check --fix $(check_dirs)

quality:
	ruff format --check $(check_dirs)
	ruff check $(check_dirs)
