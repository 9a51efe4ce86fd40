"""The math core imports nothing but NumPy: with every optional library hidden, the
package imports, trains, checks gradients and saves."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import sys
    for name in ("sklearn", "scipy", "tqdm", "PIL", "numba", "torch", "matplotlib"):
        sys.modules[name] = None  # importing any of these now fails
    import numpy as np
    import chainrule as cr
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    model = cr.Sequential([cr.Dense(3, 5, "tanh"), cr.Dense(5, 2, "softmax")], seed=0, dtype="float64")
    model.fit(X, y, epochs=3, batch_size=8, optimizer=cr.optimizers.Adam(0.01))
    assert max(cr.gradcheck(model, X[:5], y[:5]).values()) < 1e-6
    model.save(sys.argv[1])
    assert (cr.load(sys.argv[1]).predict(X) == model.predict(X)).all()
    tops = {m.split(".")[0] for m, module in sys.modules.items() if module is not None}
    print(" ".join(sorted(t for t in tops if t not in sys.stdlib_module_names and not t.startswith("_"))))
""")


def test_the_core_runs_with_numpy_alone(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "m.npz")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) - {"cython_runtime"} == {"chainrule", "numpy"}  # numpy makes cython_runtime
