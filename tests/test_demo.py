"""`systolica demo` (the README's first command) end to end, with a short RTL slice."""

import re
import subprocess
import sys


def test_demo_prints_accuracies_and_rtl_equals_golden():
    r = subprocess.run([sys.executable, "-m", "systolica.cli", "demo", "--rtl-samples", "2"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    accs = re.findall(r"float accuracy ([\d.]+)%, int8 accuracy ([\d.]+)%", r.stdout)
    assert len(accs) == 2, r.stdout                      # MLP and CNN
    for f, q in accs:
        assert float(f) >= 93 and float(q) >= float(f) - 2, (f, q)
    assert r.stdout.count("RTL == golden: True") == 3, r.stdout
    assert "RTL == golden: False" not in r.stdout
    assert len(re.findall(r"layer \d+ +(linear|conv2d).*cycles  utilization", r.stdout)) == 6, r.stdout
