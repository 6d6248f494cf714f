.PHONY: test test-slow test-all style quality

check_dirs := thinkprune train eval demo model_cards scripts tests app.py

# The fast tier: unit tests, seconds.
test:
	python -m pytest tests -m "not slow"

# The slow tier: CPU smoke tests that really train, generate and serve (minutes).
test-slow:
	python -m pytest tests -m slow

test-all:
	python -m pytest tests

style:
	ruff format $(check_dirs)
	ruff check --fix $(check_dirs)

quality:
	ruff format --check $(check_dirs)
	ruff check $(check_dirs)
	lint-imports
