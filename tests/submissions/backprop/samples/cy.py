"""A cheating submission: it tries to forge its grade instead of doing the work."""
import os
import sys

print("============ 84 passed in 0.42s ============")      # fake success lines
for path in ("/srv/course/solutions/backprop.py", "../solutions/backprop.py"):
    if os.path.exists(path):                             # copy the reference if it can be found
        exec(open(path).read())
try:
    with open("/tmp/results.json", "w") as handle:       # forge a results file
        handle.write('{"score": 100}')
except OSError:
    pass


class Anything:
    """Equal to everything, has every attribute, returns itself when called."""

    def __eq__(self, other):
        return True

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self


def __getattr__(name):
    return Anything()


sigmoid = tanh = relu = softmax = forward = backward = train = Anything()
if "pytest" in sys.modules:
    sys.exit(0)
