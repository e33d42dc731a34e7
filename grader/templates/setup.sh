#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu): Python, bubblewrap for the
# sandbox (where the image cannot use it, student code runs under a user of its own, and the reference and hidden
# tests are readable by root alone), torch's CPU build, then the grader's wheel with what the tests import.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1
apt-get update -qq
apt-get install -y -qq python3 python3-pip bubblewrap
python3 -m pip install -q {torch} --index-url {cpu_index}
python3 -m pip install -q "/autograder/source/dist/{wheel}[student]"
python3 -m grader.autograder probe  # which isolation this image gives, in the build log
