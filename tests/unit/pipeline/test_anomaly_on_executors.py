"""The anomaly step's scoring runs in the executors' Python: it must get there whole, so that an
executor with pandas, numpy and pyspark, but not streamwise or its other dependencies, runs it."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
from pyspark import cloudpickle

from streamwise.pipeline.anomaly import detector
from streamwise.pipeline.spec import AnomalyStep

# A Python in which `import streamwise` fails, as on an executor of a cluster without it; it unpickles
# the function, runs it on a group of readings with a stand-in state, and prints the output as JSON.
EXECUTOR = textwrap.dedent(
    """
    import importlib.abc, pickle, sys

    class NoStreamwise(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "streamwise" or name.startswith("streamwise."):
                raise ImportError(f"{name} is not installed on this executor")
            return None

    sys.meta_path.insert(0, NoStreamwise())
    import pandas as pd

    class State:
        hasTimedOut, exists, get, timeout = False, False, None, None
        def update(self, value): self.get = value
        def setTimeoutTimestamp(self, ms): self.timeout = ms

    detect = pickle.loads(sys.stdin.buffer.read())
    frame = pd.DataFrame({"sensor_id": ["s1"] * 4, "value": [20.0, 20.5, 19.5, 40.0],
                          "event_time": pd.to_datetime([0, 1000, 2000, 3000], unit="ms")})
    state = State()
    (out,) = list(detect(("s1",), iter([frame]), state))
    print(out.to_json(orient="records"))
    print(state.get, state.timeout)
    print(sorted(name for name in sys.modules if name.startswith("streamwise")))
    """
)


def test_the_detector_runs_on_an_executor_without_streamwise(tmp_path: Path) -> None:
    """Setup: the anomaly step's function pickled with PySpark's cloudpickle (as PySpark ships it to
    executors), unpickled and called in a fresh Python where importing any streamwise module fails,
    with a stand-in group state; the same function called here.
    Invariants: it runs there, with the same rows and state as here, and imported no streamwise module."""
    step = AnomalyStep(type="anomaly", key=["sensor_id"], value="value", warmup=3, threshold=3.0, emit="all")
    detect = detector(step, ["sensor_id"])
    shipped = cloudpickle.dumps(detect, protocol=pickle.HIGHEST_PROTOCOL)
    run = subprocess.run([sys.executable, "-c", EXECUTOR], input=shipped, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    rows, state, imported = run.stdout.decode().splitlines()
    assert imported == "[]"

    class State:
        hasTimedOut, exists, get, timeout = False, False, None, None

        def update(self, value):
            self.get = value

        def setTimeoutTimestamp(self, ms):
            self.timeout = ms

    frame = pd.DataFrame(
        {
            "sensor_id": ["s1"] * 4,
            "value": [20.0, 20.5, 19.5, 40.0],
            "event_time": pd.to_datetime([0, 1000, 2000, 3000], unit="ms"),
        }
    )
    here = State()
    (out,) = list(detect(("s1",), iter([frame]), here))
    assert rows == out.to_json(orient="records")
    assert state == f"{here.get} {here.timeout}"
    assert out["is_anomaly"].tolist() == [False, False, False, True]
