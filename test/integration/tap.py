"""tap.py -- the "ok - ..." / "not ok - ..." lines test/run.sh counts, for the Python checkers
(crdcheck.py, examplecheck.py). failures() tells how many not_ok lines were printed."""

_failures = 0


def ok(msg):
    print("ok - " + msg)


def not_ok(msg, detail=None):
    """A failed check; detail (any text) follows as "#   " comment lines."""
    global _failures
    _failures += 1
    print("not ok - " + msg)
    for line in str(detail or "").splitlines():
        print("#   " + line)


def failures():
    return _failures
