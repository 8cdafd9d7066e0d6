# hashbook: the two commands are `make test` and `make book` (PROFILE=smoke|default|paper).
PYTHON  ?= python3.11
VENV    ?= .venv
PROFILE ?= default
JOBS    ?= 1
BOOK_OUT ?= _build
# Launch buttons and source links in the book: `make book REPOSITORY_URL=https://github.com/ORG/REPO` (default:
# $HASHBOOK_REPOSITORY_URL; empty: the book links nowhere outside itself).
REPOSITORY_URL ?= $(HASHBOOK_REPOSITORY_URL)
VPY      = $(VENV)/bin/python
# Data root: $HASHLIB_DATA when set; else ../shared/data when it exists (this project's machines); else ./data.
HASHLIB_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))
export HASHLIB_DATA
# One intra-op thread per process by default: the small CPU models here run several times faster than with
# threads competing for two cores. Override on a bigger machine, e.g. `make book OMP_NUM_THREADS=8`.
OMP_NUM_THREADS ?= 1
export OMP_NUM_THREADS
STAMP    = $(VENV)/.hashbook-installed

.PHONY: setup test book clean-book clean

setup: $(STAMP)

# Create the virtual environment with pip when it is missing or the pins changed.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements.txt
	$(VPY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(VPY) -m pip install --quiet --no-deps -e .
	$(VPY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hashbook)" >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest -q

# Runs the notebooks of PROFILE into runs/$(PROFILE)/, assembles tables and figures, builds $(BOOK_OUT)/html.
book: $(STAMP)
	$(VPY) -m hashlib_core.cli book --profile $(PROFILE) --out $(BOOK_OUT) --jobs $(JOBS) \
		$(if $(REPOSITORY_URL),--repository-url "$(REPOSITORY_URL)")

clean-book:
	rm -rf $(BOOK_OUT)

clean: clean-book
	rm -rf $(VENV)
